"""The park's plan (园区一张图): its base image, and what stands on it."""

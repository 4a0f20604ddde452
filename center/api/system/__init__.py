"""Health and site information."""

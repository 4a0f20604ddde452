"""Logging in and out; who the caller is."""

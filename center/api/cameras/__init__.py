"""Cameras and their posts."""

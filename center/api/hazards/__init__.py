"""Hazards (隐患) and their rectification loop."""

"""Alerts: the list, CSV export, false-alarm statistics and the operator's verdicts."""

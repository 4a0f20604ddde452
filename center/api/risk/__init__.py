"""Risk scores, their history and the risk-diagnosis report."""

"""User accounts and the audit log (administrators)."""

"""Who the caller is and what it may do: passwords and tokens, login sessions, the one policy
table, the request dependencies that enforce it, and the audit log."""

"""Edge nodes, their remote configuration and the quarantine of rejected messages."""

"""MQTT ingest: the subscriber, the contract check of each message, and the idempotent
upserts of what the nodes send."""

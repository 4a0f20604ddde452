"""Talking to the center: the on-disk outbox, the MQTT publisher, remote configuration and the
Prometheus ``/metrics`` endpoint."""

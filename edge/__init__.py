"""ParkGuard edge node: cameras → detector → rules → events → MQTT."""

__version__ = "0.1.0"

"""Tracking: persistent track ids per camera (ByteTrack through supervision)."""

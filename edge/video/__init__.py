"""Video in: camera readers (PyAV), the ring buffer of compressed packets, motion gating."""

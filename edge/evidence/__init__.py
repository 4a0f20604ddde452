"""Evidence of alerts: snapshots (snapshot.py), clips from the ring buffer (clips.py), faces
blurred (blur.py), stored by sha256 (store.py) and uploaded to the center (upload.py)."""

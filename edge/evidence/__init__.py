"""Evidence of alerts: snapshots (snapshot.py), clips from the ring buffer (clips.py), faces
blurred (blur.py), stored by sha256 (store.py) and uploaded to the center (upload.py).

``encode_h264`` is exported here for tests/center/test_web.py, which makes a clip with it.
"""

from edge.evidence.clips import encode_h264

__all__ = ["encode_h264"]

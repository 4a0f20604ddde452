"""Live video of the node's cameras over WebRTC (aiortc).

- :mod:`edge.live.taps`: what the camera's reader and analyzer hand to live sessions (packets as
  demuxed, detections as analyzed); no aiortc import, so a node without viewers pays nothing.
- :mod:`edge.live.h264`: H.264 packets in the Annex B form RTP packetizing needs.
- :mod:`edge.live.tracks`: the video tracks: the camera's H.264 passed through, or re-encoded.
- :mod:`edge.live.service`: answers the offers the center relays over MQTT, one asyncio loop.
"""

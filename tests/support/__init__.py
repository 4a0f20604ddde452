"""Test infrastructure for ParkGuard: real brokers, cameras and databases, no mocks.

Each module starts one kind of real process (or finds a running service) and hands back a
small object with its address; ``tests/conftest.py`` turns them into pytest fixtures.

- ``ports``: ``free_port()``
- ``procs``: ``ManagedProcess`` (log file, readiness, process-group stop/kill9)
- ``mosquitto``: ``MosquittoBroker`` (private broker; stop/start on the same port)
- ``rtsp``: ``RtspCameraServer`` (``scripts/rtsp_camera.py``), ``read_frames``
- ``postgres``: ``provide_postgres()``, ``PrivatePostgres``
- ``tools``: ``require_binary()`` naming the Debian package
- ``nodes``: an in-process edge node (``running``, ``node_config``, ``demo_detector``), ``Collector``
  of a broker's messages, ``wait_until``
- ``rules``: rule configs stepped through frames of detections built in the test
- ``onnx_graphs``: small ONNX graphs with known outputs, and one-entry model manifests
"""

"""Test infrastructure for ParkGuard: real brokers, cameras and databases, no mocks.

Each module starts one kind of real process (or finds a running service) and hands back a
small object with its address; ``tests/conftest.py`` turns them into pytest fixtures.

- ``ports``: ``free_port()``
- ``procs``: ``ManagedProcess`` (log file, readiness, process-group stop/kill9)
- ``mosquitto``: ``MosquittoBroker`` (private broker; stop/start on the same port)
- ``rtsp``: ``RtspCameraServer`` (``scripts/rtsp_camera.py``), ``read_frames``
- ``postgres``: ``provide_postgres()``, ``PrivatePostgres``
- ``tools``: ``require_binary()`` naming the Debian package
"""

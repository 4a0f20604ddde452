"""Test infrastructure for ParkGuard: real brokers, cameras and databases, no mocks.

Each module starts one kind of real process (or finds a running service) and hands back a
small object with its address; ``tests/conftest.py`` turns them into pytest fixtures.
"""

from .mosquitto import MosquittoBroker
from .ports import free_port
from .postgres import PostgresUnavailable, provide_postgres
from .procs import ManagedProcess, ProcessDied, ProcessError, ReadyTimeout
from .rtsp import RtspCameraServer
from .tools import MissingTool, require_binary

__all__ = [
    "ManagedProcess",
    "MissingTool",
    "MosquittoBroker",
    "PostgresUnavailable",
    "ProcessDied",
    "ProcessError",
    "ReadyTimeout",
    "RtspCameraServer",
    "free_port",
    "provide_postgres",
    "require_binary",
]

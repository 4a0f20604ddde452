"""The camera registry as the ingest sees it: which node watches each camera and which
enterprise it belongs to, cached in memory (one dict lookup a message).

The cache is reloaded (one SELECT of the cameras) when a session of this process commits a
change to a camera (the API, the CLI, the seed), after :data:`MAX_AGE_S` (a change made by
another replica), and, at most once a second, when a message names a camera the cache does not
place on the sending node (a camera registered a moment ago elsewhere).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from center.store.models import Camera

MAX_AGE_S = 30.0
MISS_RELOAD_S = 1.0

_generation = 0  # bumped after every commit that changed a camera in this process


def _camera_changed(session: Session) -> bool:
    return any(isinstance(o, Camera) for o in (*session.new, *session.dirty, *session.deleted))


@event.listens_for(Session, "before_flush")
def _note_camera_change(session: Session, _ctx: Any, _instances: Any) -> None:
    if _camera_changed(session):
        session.info["cameras_changed"] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    global _generation
    if session.info.pop("cameras_changed", False):
        _generation += 1


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop("cameras_changed", None)


def invalidate() -> None:
    """Make every registry of this process reload at its next lookup."""
    global _generation
    _generation += 1


@dataclass(frozen=True)
class Placement:
    node: str | None
    enterprise_id: str


class CameraRegistry:
    """camera id → (node, enterprise), thread-safe, reloaded as the module's docstring says."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self._lock = threading.Lock()
        self._cameras: dict[str, Placement] = {}
        self._loaded_at = -1e9
        self._generation = -1
        self.reloads = 0

    def _reload(self) -> None:
        with self.factory() as session:
            rows = session.execute(select(Camera.id, Camera.node, Camera.enterprise_id)).all()
        self._cameras = {cid: Placement(node, ent) for cid, node, ent in rows}
        self._loaded_at = time.monotonic()
        self.reloads += 1

    def _fresh(self) -> None:
        gen = _generation
        if gen != self._generation or time.monotonic() - self._loaded_at > MAX_AGE_S:
            self._generation = gen  # read before the SELECT: a commit during it reloads again
            self._reload()

    def place(self, camera: str, node: str) -> Placement | str:
        """Where ``camera`` is registered, when that is on ``node``; else why the message of
        ``node`` about it is refused (the quarantine's reason)."""
        with self._lock:
            self._fresh()
            found = self._cameras.get(camera)
            if (found is None or found.node != node) and time.monotonic() - self._loaded_at > MISS_RELOAD_S:
                self._reload()
                found = self._cameras.get(camera)
        if found is None:
            return (
                f"camera {camera} is not registered at the center "
                f"(register it with its enterprise and node {node}: POST /api/cameras)"
            )
        if found.node != node:
            on = f"node {found.node}" if found.node else "no node"
            return f"camera {camera} is registered to {on}, not to node {node} that sent this message"
        return found

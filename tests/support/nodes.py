"""Running an in-process edge node in a test, and waiting for what it does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from edge.node import EdgeNode


@contextmanager
def running(node: EdgeNode) -> Iterator[EdgeNode]:
    """The node's loop in a thread for the ``with`` block; it must stop within 15 s after."""
    t = threading.Thread(target=node.run, name="node", daemon=True)
    t.start()
    try:
        yield node
    finally:
        node.stop()
        t.join(15)
        assert not t.is_alive(), "node did not stop"


def wait_until(cond: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()

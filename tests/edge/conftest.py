"""Fixtures of the edge tests (their logic lives in tests/support)."""

from __future__ import annotations

import pytest

from edge.detect.detector import ObjectDetector
from tests.support.nodes import demo_detector


@pytest.fixture(scope="module")
def detector() -> ObjectDetector:
    """The bundled object model, loaded once per test module."""
    return demo_detector()

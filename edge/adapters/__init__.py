"""Model adapters, one per output family, registered by the manifest's ``family``."""

from __future__ import annotations

from edge.adapters.base import Adapter
from edge.adapters.nanodet import NanoDetAdapter

ADAPTERS: dict[str, type[Adapter]] = {NanoDetAdapter.family: NanoDetAdapter}

__all__ = ["ADAPTERS", "Adapter", "NanoDetAdapter"]

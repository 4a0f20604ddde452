"""``center``: the HTTP link to the control center that evidence is uploaded over."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from edge.config.base import Section


class CenterLinkConfig(Section):
    """HTTP link to the control center, for evidence uploads (PUT /api/evidence/{sha256})."""

    url: str | None = Field(default=None, description="http(s)://center:8000; none = no upload")
    token_env: str = Field(
        default="PARKGUARD_EDGE_TOKEN", description="environment variable holding the node's bearer token"
    )
    timeout_s: float = Field(default=20.0, gt=0, le=600)
    backoff_initial_s: float = Field(default=1.0, gt=0, le=600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    queue_max: int = Field(default=10_000, ge=10, le=10_000_000, description="uploads kept waiting at most")
    ca_file: Path | None = Field(default=None, description="CA of the center's HTTPS certificate")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is None:
            return None
        url = url.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return url

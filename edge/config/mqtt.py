"""``mqtt``: the broker the node publishes to."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.config.base import Section
from protocol.tls import TlsConfig


class MqttConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password_env: str | None = Field(default=None, description="name of the environment variable holding it")
    client_id: str | None = None
    protocol: Literal["auto", "5", "3.1.1"] = Field(
        default="auto", description="MQTT version; auto: 5 if the broker speaks it (probed), else 3.1.1"
    )
    keepalive: int = Field(default=30, ge=5, le=3600)
    qos: Literal[0, 1] = 1
    tls: TlsConfig | None = None

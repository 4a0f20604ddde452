"""TLS settings for an MQTT connection, shared by the edge's and the center's configs."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TlsConfig(BaseModel):
    """TLS to the broker: the CA that signed its certificate, and a client certificate if asked."""

    model_config = ConfigDict(extra="forbid")

    ca_file: Path = Field(description="PEM file of the CA that signed the broker's certificate")
    cert_file: Path | None = Field(default=None, description="client certificate (PEM), if the broker asks")
    key_file: Path | None = Field(default=None, description="its private key (PEM)")
    insecure: bool = Field(default=False, description="skip the host name check (never on a real site)")

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        return self

    def resolved(self, base_dir: Path) -> TlsConfig:
        """The same settings with relative paths taken from ``base_dir`` (the config file's folder)."""

        def fix(p: Path | None) -> Path | None:
            return None if p is None else p if p.is_absolute() else (base_dir / p).resolve()

        return self.model_copy(
            update={
                "ca_file": fix(self.ca_file),
                "cert_file": fix(self.cert_file),
                "key_file": fix(self.key_file),
            }
        )

    def missing_files(self) -> list[tuple[str, Path]]:
        """``(field, path)`` of every configured file that does not exist."""
        files = [("ca_file", self.ca_file), ("cert_file", self.cert_file), ("key_file", self.key_file)]
        return [(name, p) for name, p in files if p is not None and not p.is_file()]

    def apply(self, client: Any) -> None:
        """Configure a paho-mqtt client: the broker's certificate checked against ``ca_file`` (and
        its host name, unless ``insecure``); a client certificate when one is configured."""
        client.tls_set(
            ca_certs=str(self.ca_file),
            certfile=str(self.cert_file) if self.cert_file else None,
            keyfile=str(self.key_file) if self.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
        client.tls_insecure_set(self.insecure)

"""Center configuration: one YAML file validated by pydantic models.

Relative paths in the file (a ``sqlite:///relative.db`` database URL, ``evidence_dir``) are
relative to the folder that holds the config file, never to the current working directory,
so ``parkguard-center serve --config /etc/parkguard/center.yaml`` behaves the same from
anywhere.
"""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    StringConstraints,
    field_validator,
    model_validator,
)

from center.notify.config import NotifyConfig
from common.configfile import ConfigError, read_yaml, validate_mapping
from protocol.ids import valid_id
from protocol.tls import TlsConfig

SQLITE_PREFIX = "sqlite:///"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseConfig(_Section):
    url: str = Field(
        default="sqlite:///var/center.db",
        description="SQLAlchemy URL; sqlite:///relative/path is relative to the config file's folder",
    )
    password_env: str | None = Field(
        default=None,
        description="name of the environment variable that holds the database password (put into the "
        "URL at start): keeps it out of the file",
    )
    password_file: Path | None = Field(
        default=None,
        description="file whose first line is the database password (a container secret such as "
        "/run/secrets/db_password); relative to the config file's folder",
    )

    @model_validator(mode="after")
    def _one_password_source(self) -> DatabaseConfig:
        if self.password_env and self.password_file:
            raise ValueError("give password_env or password_file, not both")
        if (self.password_env or self.password_file) and not self.url.startswith("postgresql"):
            raise ValueError("password_env / password_file are for a postgresql+psycopg:// URL")
        return self

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not (url.startswith("sqlite:") or url.startswith("postgresql")):
            raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
        if url.startswith("postgresql") and not url.startswith("postgresql+psycopg://"):
            raise ValueError("use the psycopg 3 driver: postgresql+psycopg://user@host/db")
        return url


class MqttConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password_env: str | None = Field(
        default=None, description="name of the environment variable that holds the MQTT password"
    )
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="parkguard-center",
        description="must be unique per center replica; the broker keeps the session under it",
    )
    shared_group: str | None = Field(
        default=None,
        description="$share group that several center replicas split the load in; null (the default) "
        "for one replica. Mosquitto 2.0 does not keep shared subscriptions over a broker restart: "
        "what is published between the restart and the replicas' re-subscribe is lost, so use it "
        "only with a broker that persists them",
    )
    protocol: Literal["auto", "5", "3.1.1"] = Field(
        default="auto", description="MQTT version; auto: 5 if the broker speaks it (probed), else 3.1.1"
    )
    keepalive: int = Field(default=30, ge=5, le=3600)
    tls: TlsConfig | None = None

    @field_validator("shared_group")
    @classmethod
    def _segment(cls, value: str | None) -> str | None:
        if value is not None and not valid_id(value):
            raise ValueError("use letters, digits, '_', '-', '.' only")
        return value

    def password(self) -> str | None:
        if self.password_env is None:
            return None
        return os.environ.get(self.password_env)


class JetStreamConfig(_Section):
    """Events and heartbeats from a NATS JetStream stream (the edges publish through NATS's MQTT
    gateway) instead of the MQTT subscription: replicas compete on one durable work-queue
    consumer and ack after the commit; status and configs stay on MQTT (docs/scale.md)."""

    url: str = Field(default="nats://127.0.0.1:4222", description="the NATS server (or cluster seed)")
    stream: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "PARKGUARD"
    durable: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "centers"
    ack_wait_s: float = Field(default=30.0, ge=1, le=3600, description="unacked this long: redelivered")
    batch: int = Field(default=500, ge=1, le=5000, description="messages fetched (and committed) at once")
    stream_replicas: int = Field(
        default=1, ge=1, le=5, description="copies of the stream when the center makes it"
    )


class BodyLimits(_Section):
    """Largest request body of each class of route, checked before the body is read (a bigger
    ``Content-Length`` is refused at once, a streamed body as soon as it passes the limit)."""

    evidence_mib: float = Field(
        default=32.0,
        gt=0,
        le=1024,
        description="an evidence upload (snapshot, clip, photo); keep it at least the edges' "
        "evidence.clip_max_mb",
    )
    login_kib: int = Field(default=16, ge=1, le=1024, description="a login (user name and password)")
    api_kib: int = Field(default=1024, ge=1, le=64 * 1024, description="any other request (JSON bodies)")


class HttpConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    limits: BodyLimits = Field(default_factory=BodyLimits)


class AuthConfig(_Section):
    session_hours: float = Field(default=12.0, gt=0, le=24 * 90, description="how long a login lasts")
    login_max_failures: int = Field(
        default=5, ge=1, le=1000, description="failed logins per user name and address before a pause"
    )
    login_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="failed logins from one address, whatever the user names, before a pause "
        "(password spraying over many names)",
    )
    login_max_failures_per_user: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="failed logins of one user name, from any address, before a pause (a guess "
        "spread over many addresses)",
    )
    login_window_s: int = Field(default=300, ge=1, le=86_400, description="the window failures count in")
    cookie_secure: bool = Field(default=False, description="mark the session cookie Secure (behind HTTPS)")
    feed_recheck_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="how often an open live feed (/ws/alerts) checks its session again (expiry, logout "
        "or a disabled account on another replica); on this replica a logout ends it at once",
    )


class SecurityConfig(_Section):
    """Which proxies the center believes, and which other web origins a browser may reach it from."""

    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        max_length=64,
        description="addresses (CIDR) of the reverse proxies in front of the center: only a request "
        "from one of them has its X-Forwarded-For read (the client is the last address in it that is "
        "not a trusted proxy); empty (the default) trusts nobody, and the peer address counts",
    )

    allowed_origins: list[Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=list,
        max_length=64,
        description="origins (scheme://host[:port]) besides the center's own whose pages may open the "
        "live feed and send requests with the session cookie; the center's own (the Host it is "
        "reached at, and public_url) always may",
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        out = []
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
                raise ValueError(f"{origin!r}: give scheme://host[:port], e.g. https://pg.example.cn")
            out.append(f"{parts.scheme}://{parts.netloc}".lower())
        return out


class RiskLevelThresholds(_Section):
    """Lowest score of each level; below ``yellow`` is blue (蓝)."""

    red: float = Field(default=60.0, ge=0, le=100)
    orange: float = Field(default=35.0, ge=0, le=100)
    yellow: float = Field(default=15.0, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> RiskLevelThresholds:
        if not self.red > self.orange > self.yellow:
            raise ValueError("thresholds must fall: red > orange > yellow")
        return self


class RiskConfig(_Section):
    """Weights of the risk score (center/SCORING.md explains each)."""

    window_days: int = Field(default=30, ge=1, le=365)
    severity_weights: dict[str, float] = Field(
        default_factory=lambda: {"general": 1.0, "significant": 3.0, "major": 10.0}
    )
    event_rate_weight: float = Field(
        default=0.25, ge=0, description="points per weighted alert per 1000 camera-hours"
    )
    repeat_weight: float = Field(default=0.2, ge=0, description="points per repeated alert")
    repeat_cap: float = Field(default=10.0, ge=0, description="most points repeats can give")
    open_hazard_weights: dict[str, float] = Field(default_factory=lambda: {"general": 4.0, "major": 15.0})
    overdue_hazard_weights: dict[str, float] = Field(default_factory=lambda: {"general": 6.0, "major": 20.0})
    thresholds: RiskLevelThresholds = Field(default_factory=RiskLevelThresholds)
    coefficient_min: float = Field(default=0.7, gt=0, le=1)
    coefficient_max: float = Field(default=1.3, ge=1, le=3)

    @field_validator("severity_weights")
    @classmethod
    def _severities(cls, value: dict[str, float]) -> dict[str, float]:
        need = {"general", "significant", "major"}
        if set(value) != need or any(v < 0 for v in value.values()):
            raise ValueError("give a weight ≥ 0 for each of general, significant, major")
        return value

    @field_validator("open_hazard_weights", "overdue_hazard_weights")
    @classmethod
    def _levels(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != {"general", "major"} or any(v < 0 for v in value.values()):
            raise ValueError("give a weight ≥ 0 for each of general, major")
        return value


class RetentionConfig(_Section):
    max_age_days: int | None = Field(default=180, ge=1, description="delete evidence older than this")
    max_gb: float | None = Field(default=50.0, gt=0, description="delete the oldest evidence above this")


class MetricsConfig(_Section):
    """Prometheus ``GET /metrics`` (docs/operations.md): who may scrape it. Site-wide figures only,
    never one enterprise's; still, a stranger learns the site's load from them, so by default only
    a scraper on the center's own machine may read it."""

    enabled: bool = Field(default=True, description="serve /metrics at all")
    allow_loopback: bool = Field(
        default=True,
        description="a request from 127.0.0.1 or ::1 that no proxy forwarded (no X-Forwarded-For, "
        "Forwarded or X-Real-IP header) may scrape without a token",
    )
    token_env: str | None = Field(
        default=None,
        description="name of the environment variable holding the scrape token (Prometheus sends it "
        "as `Authorization: Bearer …`); keeps it out of the file",
    )
    token_file: Path | None = Field(
        default=None,
        description="file whose first line is the scrape token (a container secret); relative to the "
        "config file's folder",
    )

    @model_validator(mode="after")
    def _one_token_source(self) -> MetricsConfig:
        if self.token_env and self.token_file:
            raise ValueError("give token_env or token_file, not both")
        return self

    def token(self) -> str | None:
        """The scrape token (None: none configured). Raises ValueError when its source is empty."""
        if self.token_env:
            value = os.environ.get(self.token_env, "").strip()
            if not value:
                raise ValueError(f"metrics.token_env: environment variable {self.token_env} is not set")
        elif self.token_file is not None:
            try:
                lines = self.token_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ValueError(f"metrics.token_file: {self.token_file}: {exc.strerror}") from None
            value = lines[0].strip() if lines else ""
            if not value:
                raise ValueError(f"metrics.token_file: {self.token_file} is empty")
        else:
            return None
        if len(value) < 16:
            raise ValueError("metrics token: use at least 16 characters")
        return value


DEFAULT_FACE_MANIFEST = Path(__file__).resolve().parent.parent / "models" / "manifest.yaml"


class ReportsConfig(_Section):
    """The reports' evidence thumbnails: every face is blurred at render time with this face model
    (the edge's BlazeFace from the bundled models); without it a report carries no thumbnail."""

    face_manifest: Path = Field(
        default=DEFAULT_FACE_MANIFEST, description="the model manifest holding the face detector"
    )
    face_model: str = Field(default="blazeface", max_length=64, description="its manifest entry")
    face_score: float = Field(default=0.5, ge=0.05, le=1.0, description="face detector score threshold")
    person_model: str | None = Field(
        default="nanodet-coco",
        max_length=64,
        description="person detector: a person without a face found gets the head blurred (None: faces only)",
    )


class IceServerConfig(_Section):
    """A STUN/TURN server the viewers' browsers use (e.g. coturn for viewers outside the park's
    LAN; docs/live.md). The password comes from an environment variable, never the file."""

    urls: list[Annotated[str, StringConstraints(pattern=r"^(stun|turn|turns):", max_length=256)]] = Field(
        min_length=1, max_length=8
    )
    username: Annotated[str, StringConstraints(max_length=128)] | None = None
    credential_env: str | None = None

    def browser(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urls": self.urls}
        if self.username is not None:
            out["username"] = self.username
            out["credential"] = os.environ.get(self.credential_env or "", "")
        return out


class LiveConfig(_Section):
    """Live video: the center relays a viewer's WebRTC offer to the node and waits this long."""

    answer_timeout_s: float = Field(default=10.0, ge=1, le=60, description="wait for the node's answer")
    ice_servers: list[IceServerConfig] = Field(
        default_factory=list, max_length=4, description="STUN/TURN for browsers; none: host candidates"
    )


class CenterConfig(_Section):
    site: str = Field(description="site id, the site level of the MQTT topics")
    site_name: Annotated[str, StringConstraints(min_length=1, max_length=128)] = "ParkGuard"
    timezone: str = "Asia/Shanghai"
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    jetstream: JetStreamConfig | None = Field(
        default=None, description="take events and heartbeats from NATS JetStream (null: from MQTT)"
    )
    http: HttpConfig = Field(default_factory=HttpConfig)
    evidence_dir: Path = Path("var/evidence")
    public_url: str | None = Field(
        default=None,
        description="the address people open the center at (for the 全安码 QR codes), e.g. https://pg.example.cn",
    )
    auth: AuthConfig = Field(default_factory=AuthConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)

    @field_validator("site")
    @classmethod
    def _site(cls, value: str) -> str:
        if not valid_id(value):
            raise ValueError("use 1–64 letters, digits, '_', '-', '.' (it is a topic level)")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Shanghai)") from None
        return value

    def base_url(self) -> str:
        """Where people open the console (links in notifications): public_url, else the HTTP address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.http.host in ("0.0.0.0", "::", "") else self.http.host
        return f"http://{host}:{self.http.port}"

    def resolved(self, base_dir: Path) -> CenterConfig:
        """A copy whose relative paths are made absolute against ``base_dir``."""
        url = self.database.url
        if url.startswith(SQLITE_PREFIX) and url != "sqlite:///:memory:":
            db_path = Path(url[len(SQLITE_PREFIX) :])
            if not db_path.is_absolute():
                url = SQLITE_PREFIX + str((base_dir / db_path).resolve())
        evidence = self.evidence_dir if self.evidence_dir.is_absolute() else base_dir / self.evidence_dir
        metrics = self.metrics
        if metrics.token_file is not None and not metrics.token_file.is_absolute():
            metrics = metrics.model_copy(update={"token_file": base_dir / metrics.token_file})
        mqtt = self.mqtt
        if mqtt.tls is not None:
            mqtt = mqtt.model_copy(update={"tls": mqtt.tls.resolved(base_dir)})
        return self.model_copy(
            update={
                "database": self.database.model_copy(update={"url": url}),
                "evidence_dir": evidence,
                "mqtt": mqtt,
                "metrics": metrics,
                "reports": self.reports.model_copy(
                    update={"face_manifest": base_dir / self.reports.face_manifest}
                ),
            }
        )


def _database_password(database: DatabaseConfig, source: str, base_dir: Path) -> str | None:
    """The password that ``password_env`` or ``password_file`` names (None when neither is set)."""
    if database.password_env:
        value = os.environ.get(database.password_env)
        if not value:
            raise ConfigError(
                f"{source}: database.password_env: environment variable {database.password_env} is not set"
            )
        return value
    if database.password_file is not None:
        path = base_dir / database.password_file  # an absolute path stays itself
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"{source}: database.password_file: {path}: {exc.strerror}") from None
        value = lines[0].strip() if lines else ""
        if not value:
            raise ConfigError(f"{source}: database.password_file: {path} is empty")
        return value
    return None


def parse_config(data: Any, source: str, base_dir: Path) -> CenterConfig:
    config = validate_mapping(CenterConfig, data, source)
    if config.mqtt.password_env and config.mqtt.password_env not in os.environ:
        raise ConfigError(
            f"{source}: mqtt.password_env: environment variable {config.mqtt.password_env} is not set"
        )
    password = _database_password(config.database, source, base_dir)
    if password is not None:
        from sqlalchemy.engine import make_url

        url = make_url(config.database.url).set(password=password).render_as_string(hide_password=False)
        config = config.model_copy(update={"database": config.database.model_copy(update={"url": url})})
    config = config.resolved(base_dir)
    try:
        config.metrics.token()  # a missing or empty token source is a config error, said at start
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if config.mqtt.tls is not None:
        for name, file in config.mqtt.tls.missing_files():
            raise ConfigError(f"{source}: mqtt.tls.{name}: no such file: {file}")
    return config


def load_config(path: str | Path) -> CenterConfig:
    """Read and validate a center config file; raise ConfigError naming the file and the field."""
    path = Path(path)
    return parse_config(read_yaml(path), str(path), path.resolve().parent)

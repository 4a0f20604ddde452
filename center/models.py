"""ORM tables of the center (SQLAlchemy 2 typed declarative).

Schema changes go through Alembic (``center/migrations``); keep this file and the latest
revision in step (``alembic -c center/alembic.ini check`` tells when they are not).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Alert(Base):
    """One alert event, merged from its ``new`` / ``update`` / ``end`` messages."""

    __tablename__ = "alerts"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    enterprise: Mapped[str | None] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_type: Mapped[str] = mapped_column(String(32))
    rule_name: Mapped[str] = mapped_column(String(128), default="")
    severity: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(8), doc="last phase applied: new / update / end")
    seq: Mapped[int] = mapped_column(Integer, doc="highest message seq applied")
    started_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    ended_ms: Mapped[int | None] = mapped_column(BigInteger)
    zone: Mapped[str | None] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    objects: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    received_ms: Mapped[int] = mapped_column(BigInteger, doc="when the center first heard of it")
    updated_ms: Mapped[int] = mapped_column(BigInteger, doc="when the center last changed it")

    __table_args__ = (
        Index("ix_alerts_camera_started_ms", "camera", "started_ms"),
        Index("ix_alerts_started_ms", "started_ms"),
    )


class Quarantine(Base):
    """A message that did not pass the contract, kept (bounded) with the reason."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[bytes] = mapped_column(LargeBinary, doc="the first 64 KiB of the payload")
    payload_size: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)


class Node(Base):
    """An edge node, as told by its status (birth/death) and heartbeat messages."""

    __tablename__ = "nodes"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), doc="online / offline / stopped")
    status_ms: Mapped[int | None] = mapped_column(BigInteger, doc="ts_ms of the last status applied")
    last_seen_ms: Mapped[int] = mapped_column(BigInteger, doc="newest ts_ms of any status or heartbeat")
    software: Mapped[str] = mapped_column(String(64), default="")
    cameras: Mapped[list[str]] = mapped_column(JSON, default=list)
    config_version: Mapped[int | None] = mapped_column(Integer)
    heartbeat: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="the last heartbeat, as sent")
    updated_ms: Mapped[int] = mapped_column(BigInteger)

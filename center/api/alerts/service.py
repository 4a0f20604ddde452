"""Alert queries: the filter every alert route applies, the list, and false-alarm statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from center.api.alerts.schemas import AlertOut, AlertWindow, PrecisionOut, PrecisionRow
from center.domain.vocabulary import AlertStatus
from center.store.models import Alert, Camera, Enterprise, Node

Columns = TypeVarTuple("Columns")


@dataclass(frozen=True)
class AlertFilter:
    """An alert query's filters as stored values; None: not filtered by it."""

    camera: str | None = None
    node: str | None = None
    rule_type: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    enterprise_id: str | None = None
    severity: str | None = None
    status: str | None = None
    scope: frozenset[str] | None = None  # enterprises the caller may see; None: all

    @classmethod
    def of(
        cls, query: AlertWindow, since_ms: int | None, until_ms: int | None, scope: frozenset[str] | None
    ) -> AlertFilter:
        """The filter of a query (an :class:`AlertQuery`, or a bare :class:`AlertWindow`)."""
        values = query.model_dump(mode="json", exclude={"since", "until"})
        return cls(**values, since_ms=since_ms, until_ms=until_ms, scope=scope)


def filtered(stmt: Select[*Columns], f: AlertFilter) -> Select[*Columns]:
    for column, value in (
        (Alert.camera, f.camera),
        (Alert.node, f.node),
        (Alert.rule_type, f.rule_type),
        (Alert.enterprise, f.enterprise_id),
        (Alert.severity, f.severity),
        (Alert.status, f.status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.since_ms is not None:
        stmt = stmt.where(Alert.started_ms >= f.since_ms)
    if f.until_ms is not None:
        stmt = stmt.where(Alert.started_ms < f.until_ms)
    if f.scope is not None:
        stmt = stmt.where(Alert.enterprise.in_(sorted(f.scope)))
    return stmt


def list_alerts(session: Session, f: AlertFilter, limit: int, offset: int) -> list[Alert]:
    """Alerts that started in [since, until), newest first."""
    stmt = filtered(select(Alert), f)
    stmt = stmt.order_by(Alert.started_ms.desc(), Alert.event_id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def alerts_out(session: Session, rows: Sequence[Alert | Mapping[str, Any]]) -> list[AlertOut]:
    """Alerts (rows, or rows as dicts) in the API's shape, with the names of their camera,
    enterprise and node.

    Three lookups for the whole page (not one a row). A camera's name is given only when the
    registry puts the camera in the alert's own enterprise (or the alert has none, which only
    unscoped callers see), so an alert never shows another enterprise's camera name.
    """
    alerts = [AlertOut.model_validate(r) for r in rows]
    if not alerts:
        return []
    camera_ids = sorted({a.camera for a in alerts})
    enterprise_ids = sorted({a.enterprise for a in alerts if a.enterprise is not None})
    node_ids = sorted({a.node for a in alerts})
    cameras: dict[str, tuple[str, str | None]] = {
        cid: (eid, name or post or None)
        for cid, eid, name, post in session.execute(
            select(Camera.id, Camera.enterprise_id, Camera.name, Camera.post_name).where(
                Camera.id.in_(camera_ids)
            )
        )
    }
    enterprises: dict[str, str] = {}
    if enterprise_ids:
        enterprises = {
            eid: name
            for eid, name in session.execute(
                select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(enterprise_ids))
            )
        }
    nodes: dict[tuple[str, str], str | None] = {
        (site, node): name or None
        for site, node, name in session.execute(
            select(Node.site, Node.node, Node.name).where(Node.node.in_(node_ids))
        )
    }
    out = []
    for a in alerts:
        camera_enterprise, camera_name = cameras.get(a.camera, (None, None))
        if a.enterprise is not None and camera_enterprise != a.enterprise:
            camera_name = None
        names = {
            "camera_name": camera_name,
            "enterprise_name": enterprises.get(a.enterprise) if a.enterprise is not None else None,
            "node_name": nodes.get((a.site, a.node)),
        }
        out.append(a.model_copy(update=names))
    return out


def alert_out(session: Session, row: Alert | Mapping[str, Any]) -> AlertOut:
    """One alert in the API's shape, with its names (:func:`alerts_out`)."""
    return alerts_out(session, [row])[0]


def count_alerts(session: Session, f: AlertFilter) -> int:
    return int(session.scalar(filtered(select(func.count()).select_from(Alert), f)) or 0)


def _precision_rows(groups: dict[str, Counter[str]]) -> list[PrecisionRow]:
    out = []
    for key, c in sorted(groups.items()):
        confirmed = c[AlertStatus.ACKNOWLEDGED] + c[AlertStatus.ESCALATED]
        reviewed = confirmed + c[AlertStatus.DISMISSED]
        out.append(
            PrecisionRow(
                key=key,
                total=sum(c.values()),
                confirmed=confirmed,
                dismissed=c[AlertStatus.DISMISSED],
                unreviewed=c[AlertStatus.OPEN],
                precision=round(confirmed / reviewed, 3) if reviewed else None,
            )
        )
    return out


def precision(session: Session, f: AlertFilter) -> PrecisionOut:
    """How many alerts were confirmed and how many dismissed as false alarms, per rule and camera."""
    by_rule: dict[str, Counter[str]] = {}
    by_camera: dict[str, Counter[str]] = {}
    for rule_id, camera, status in session.execute(
        filtered(select(Alert.rule_id, Alert.camera, Alert.status), f)
    ):
        by_rule.setdefault(rule_id, Counter())[status] += 1
        by_camera.setdefault(camera, Counter())[status] += 1
    return PrecisionOut(by_rule=_precision_rows(by_rule), by_camera=_precision_rows(by_camera))

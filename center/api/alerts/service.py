"""Alert queries: the filter every alert route applies, the list, and false-alarm statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from center.api.alerts.schemas import AlertOut, AlertWindow, EvidenceStatus, PrecisionOut, PrecisionRow
from center.domain.vocabulary import AlertStatus
from center.store.models import Alert, Camera, Enterprise, EvidenceFile, Node, NodeConfigVersion
from protocol import now_ms

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
    q: str | None = None  # free text (see AlertQuery.q)
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
    if f.q:
        stmt = stmt.where(matches_text(f.q))
    return stmt


def _like(column: Any, pattern: str) -> ColumnElement[bool]:
    return func.lower(column).like(pattern, escape="\\")


def matches_text(text: str) -> ColumnElement[bool]:
    """The free-text search: ``text`` (case-insensitive, ``%`` and ``_`` taken literally) in the
    alert's own words or in the names of its camera (of its own enterprise), enterprise and node."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    camera_named = exists().where(
        Camera.id == Alert.camera,
        Camera.enterprise_id == Alert.enterprise,
        or_(_like(Camera.name, pattern), _like(Camera.post_name, pattern)),
    )
    return or_(
        *(_like(c, pattern) for c in (Alert.rule_name, Alert.zone, Alert.camera, Alert.event_id)),
        _like(Alert.dismiss_reason, pattern),
        camera_named,
        Alert.enterprise.in_(select(Enterprise.id).where(_like(Enterprise.name, pattern))),
        Alert.node.in_(select(Node.node).where(_like(Node.name, pattern))),
    )


def parse_cursor(value: str) -> tuple[int, str]:
    """A cursor ``<ms>.<event id>`` (validated by the route's pattern) as its two parts."""
    ms, _, event_id = value.partition(".")
    return int(ms), event_id


def list_alerts(
    session: Session, f: AlertFilter, limit: int, offset: int, cursor: tuple[int, str] | None = None
) -> list[Alert]:
    """Alerts that started in [since, until), newest first; after ``cursor`` (the last row of the
    previous page: its start and event id) when given."""
    stmt = filtered(select(Alert), f)
    if cursor is not None:
        started, event_id = cursor
        stmt = stmt.where(
            or_(Alert.started_ms < started, and_(Alert.started_ms == started, Alert.event_id < event_id))
        )
    stmt = stmt.order_by(Alert.started_ms.desc(), Alert.event_id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def list_changes(session: Session, f: AlertFilter, after: tuple[int, str], limit: int) -> list[Alert]:
    """Alerts changed after ``after`` (an update time and event id), oldest change first."""
    updated, event_id = after
    stmt = filtered(select(Alert), f).where(
        or_(Alert.updated_ms > updated, and_(Alert.updated_ms == updated, Alert.event_id > event_id))
    )
    return list(session.scalars(stmt.order_by(Alert.updated_ms, Alert.event_id).limit(limit)))


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
    cameras: dict[str, tuple[str, str | None, str | None]] = {
        cid: (eid, name or post or None, post or None)
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
    nodes: dict[tuple[str, str], tuple[str | None, dict[str, Any]]] = {
        (site, node): (name or None, heartbeat or {})
        for site, node, name, heartbeat in session.execute(
            select(Node.site, Node.node, Node.name, Node.heartbeat).where(Node.node.in_(node_ids))
        )
    }
    configs = _node_configs(session, {(a.site, a.node) for a in alerts})
    shas = sorted({str(e.get("sha256")) for a in alerts for e in a.evidence if e.get("sha256")})
    stored: set[str] = set()
    if shas:
        stored = set(session.scalars(select(EvidenceFile.sha256).where(EvidenceFile.sha256.in_(shas))))
    now = now_ms()
    out = []
    for a in alerts:
        camera_enterprise, camera_name, post_name = cameras.get(a.camera, (None, None, None))
        if a.enterprise is not None and camera_enterprise != a.enterprise:
            camera_name = post_name = None
        node_name, heartbeat = nodes.get((a.site, a.node), (None, {}))
        config = configs.get((a.site, a.node), {})
        names = {
            "camera_name": camera_name,
            "post_name": post_name,
            "zone_name": _zone_name(config, a.camera, a.zone),
            "enterprise_name": enterprises.get(a.enterprise) if a.enterprise is not None else None,
            "node_name": node_name,
            "evidence_status": evidence_status(a, stored, config, heartbeat, now),
        }
        out.append(a.model_copy(update=names))
    return out


def _node_configs(session: Session, nodes: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest remote config of each node (what the center knows of its zones and evidence)."""
    if not nodes:
        return {}
    newest = (
        select(NodeConfigVersion.site, NodeConfigVersion.node, func.max(NodeConfigVersion.version).label("v"))
        .where(NodeConfigVersion.node.in_(sorted(n for _, n in nodes)))
        .group_by(NodeConfigVersion.site, NodeConfigVersion.node)
        .subquery()
    )
    rows = session.execute(
        select(NodeConfigVersion.site, NodeConfigVersion.node, NodeConfigVersion.config).join(
            newest,
            and_(
                NodeConfigVersion.site == newest.c.site,
                NodeConfigVersion.node == newest.c.node,
                NodeConfigVersion.version == newest.c.v,
            ),
        )
    )
    return {(site, node): config if isinstance(config, dict) else {} for site, node, config in rows}


def _zone_name(config: dict[str, Any], camera: str, zone: str | None) -> str | None:
    if not zone:
        return None
    for cam in config.get("cameras") or []:
        if isinstance(cam, dict) and cam.get("id") == camera:
            for z in cam.get("zones") or []:
                if isinstance(z, dict) and z.get("id") == zone and z.get("name"):
                    return str(z["name"])[:128]
    return None


UPLOAD_GRACE_MS = 120_000  # a referenced file not here this long after the alert's last message: failed
CLIP_GRACE_MS = 90_000  # the clip comes after its window (post_s) is over and it is cut and uploaded
EVIDENCE_KINDS = {"snapshot": ("抓拍", "snapshot"), "clip": ("视频片段", "clip")}


def evidence_status(
    a: AlertOut, stored: set[str], config: dict[str, Any], heartbeat: dict[str, Any], now: int
) -> dict[str, EvidenceStatus]:
    """For each kind, whether the center holds the alert's file and, when not, why, from what the
    center knows: the files it holds, the node's remote config (``evidence.snapshots`` / ``clips``),
    the node's last heartbeat (files its upload queue dropped) and the time since the alert."""
    settings: dict[str, Any] = config.get("evidence") or {}
    evidence: dict[str, Any] = heartbeat.get("evidence") or {}
    if not isinstance(settings, dict):
        settings = {}
    if not isinstance(evidence, dict):
        evidence = {}
    dropped = int(evidence.get("uploads_dropped") or 0)
    since_last = now - max(a.last_ms, a.ended_ms or 0)
    out: dict[str, EvidenceStatus] = {}
    for kind, (zh, en) in EVIDENCE_KINDS.items():
        refs = [e for e in a.evidence if e.get("kind") == kind]
        if any(e.get("sha256") in stored for e in refs):
            out[kind] = EvidenceStatus(state="stored", label="已上传 (stored)")
        elif refs and since_last < UPLOAD_GRACE_MS:
            out[kind] = EvidenceStatus(state="pending", label=f"{zh}上传中 ({en} not uploaded yet)")
        elif refs:
            why = f"；节点上传队列已丢弃 {dropped} 个文件" if dropped else ""
            out[kind] = EvidenceStatus(
                state="missing",
                label=f"{zh}未收到：上传失败或已按保存期清理{why} "
                f"({en} never received: upload failed or removed)",
            )
        elif settings.get(f"{kind}s") is False:
            off = f"节点配置不生成{zh} (the node's config makes no {en})"
            out[kind] = EvidenceStatus(state="off", label=off)
        elif kind == "clip" and (a.phase != "end" or since_last < CLIP_GRACE_MS):
            waiting = "片段待生成：等待录制窗口结束 (clip not recorded yet)"
            out[kind] = EvidenceStatus(state="pending", label=waiting)
        else:
            failed = int(evidence.get("clips_failed") or 0) if kind == "clip" else 0
            why = f"；节点共 {failed} 个片段生成失败" if failed else ""
            out[kind] = EvidenceStatus(state="none", label=f"节点未发送{zh}{why} (the node sent no {en})")
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

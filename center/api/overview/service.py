"""园区总览 figures, each one aggregate query (GROUP BY in the database, never a loop over alerts
or hazards): a district holds thousands of enterprises and their alerts. Levels come from the
stored daily scores (today's is refreshed every hour), not from scoring each enterprise anew."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, case, func, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from center.api.overview.schemas import (
    AttentionRow,
    Coverage,
    DayCount,
    GroupFigures,
    HazardFigures,
    LevelCount,
    OverviewOut,
)
from center.api.schemas import iso_utc
from center.config import CenterConfig
from center.domain.nodes import node_cameras, node_health, registered_cameras
from center.domain.scoring import CONFIRMED, LEVELS, latest_scores, level_rank
from center.domain.timeparse import DAY_MS
from center.domain.vocabulary import INDUSTRY_LABELS, RISK_LEVEL_LABELS, HazardStatus, label
from center.store.models import (
    Alert,
    Camera,
    Enterprise,
    Hazard,
    Node,
    ServiceRecord,
    ServiceRequest,
    Town,
)

ATTENTION_MAX = 10
NO_TOWN = "未登记镇街"
CLOSED = HazardStatus.CLOSED.value


def count_if(condition: ColumnElement[bool] | InstrumentedAttribute[bool]) -> ColumnElement[int]:
    """How many rows of the group meet ``condition`` (0, never NULL)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _in_scope(column: Any, scope: frozenset[str] | None) -> ColumnElement[bool]:
    return column.in_(sorted(scope)) if scope is not None else true()


class Figures:
    """The overview of the enterprises in ``scope`` (None: all) over the ``days`` before ``now``."""

    def __init__(
        self, session: Session, config: CenterConfig, scope: frozenset[str] | None, days: int, now: int
    ) -> None:
        self.session = session
        self.config = config
        self.scope = scope
        self.days = days
        self.now = now
        self.since = now - days * DAY_MS
        self.tz = ZoneInfo(config.timezone)
        self.today = datetime.fromtimestamp(now / 1000, self.tz).date()
        self.scores = latest_scores(self.today.isoformat())

    # --- building blocks ------------------------------------------------------------------

    def enterprises(self) -> Select[Any]:
        """Enterprises in scope with their latest stored score (outer: unscored ones too)."""
        cur = self.scores
        return (
            select(Enterprise.id, Enterprise.town_id, Enterprise.industry, cur.c.level, cur.c.score)
            .outerjoin(cur, cur.c.enterprise_id == Enterprise.id)
            .where(_in_scope(Enterprise.id, self.scope))
        )

    def hazard_counts(self) -> Any:
        """Open and overdue hazards of each enterprise in scope (only enterprises that have one)."""
        is_open = Hazard.status != CLOSED
        return (
            select(
                Hazard.enterprise_id.label("enterprise_id"),
                count_if(is_open).label("open"),
                count_if(is_open & (Hazard.deadline_ms < self.now)).label("overdue"),
                count_if(is_open & (Hazard.level == "major")).label("major_open"),
            )
            .where(_in_scope(Hazard.enterprise_id, self.scope))
            .group_by(Hazard.enterprise_id)
            .subquery("hz")
        )

    def alert_counts(self) -> Any:
        """The period's alerts of each enterprise in scope."""
        return (
            select(
                Alert.enterprise.label("enterprise_id"),
                func.count().label("alerts"),
                count_if(Alert.status.in_(CONFIRMED)).label("confirmed"),
                count_if(Alert.status == "dismissed").label("dismissed"),
                count_if(Alert.severity == "major").label("major"),
            )
            .where(
                Alert.started_ms >= self.since,
                Alert.started_ms <= self.now,
                Alert.enterprise.is_not(None),
                _in_scope(Alert.enterprise, self.scope),
            )
            .group_by(Alert.enterprise)
            .subquery("al")
        )

    # --- the figures ------------------------------------------------------------------------

    def levels(self) -> tuple[int, list[LevelCount], int]:
        rows = self.enterprises().subquery("e")
        got = {
            lv: int(n)
            for lv, n in self.session.execute(select(rows.c.level, func.count()).group_by(rows.c.level))
        }
        total = sum(got.values())
        levels = [
            LevelCount(level=lv, level_label=RISK_LEVEL_LABELS[lv], count=got.get(lv, 0)) for lv in LEVELS
        ]
        return total, levels, total - sum(c.count for c in levels)

    def hazards(self) -> HazardFigures:
        h = Hazard
        in_scope = _in_scope(h.enterprise_id, self.scope)
        is_open = h.status != CLOSED
        now_open = self.session.execute(
            select(
                count_if(is_open & (h.level == "general")),
                count_if(is_open & (h.level == "major")),
                count_if(is_open & (h.level == "general") & (h.deadline_ms < self.now)),
                count_if(is_open & (h.level == "major") & (h.deadline_ms < self.now)),
            ).where(in_scope)
        ).one()
        created = self.session.execute(
            select(func.count(), count_if(h.status == CLOSED)).where(
                in_scope, h.created_ms >= self.since, h.created_ms <= self.now
            )
        ).one()
        closed = self.session.execute(
            select(
                func.count(),
                count_if(h.closed_ms <= h.deadline_ms),
                func.avg(h.closed_ms - h.created_ms),
            ).where(in_scope, h.status == CLOSED, h.closed_ms >= self.since, h.closed_ms <= self.now)
        ).one()
        n_created, n_created_closed = int(created[0]), int(created[1])
        mean_ms = closed[2]
        return HazardFigures(
            open_general=int(now_open[0]),
            open_major=int(now_open[1]),
            overdue_general=int(now_open[2]),
            overdue_major=int(now_open[3]),
            created=n_created,
            created_closed=n_created_closed,
            rectification_rate=round(n_created_closed / n_created, 4) if n_created else None,
            closed=int(closed[0]),
            closed_on_time=int(closed[1]),
            mean_days_to_close=round(float(mean_ms) / DAY_MS, 2) if mean_ms is not None else None,
        )

    def groups(self, by: str) -> list[GroupFigures]:
        """The figures by 镇街 (``by="town"``) or by industry."""
        e = self.enterprises().subquery("e")
        hz, al = self.hazard_counts(), self.alert_counts()
        key = e.c.town_id if by == "town" else e.c.industry
        stmt = (
            select(
                key.label("key"),
                func.count().label("enterprises"),
                count_if(e.c.level == "red"),
                count_if(e.c.level == "orange"),
                func.coalesce(func.sum(hz.c.open), 0),
                func.coalesce(func.sum(hz.c.overdue), 0),
                func.coalesce(func.sum(al.c.alerts), 0),
                func.coalesce(func.sum(al.c.confirmed), 0),
                func.coalesce(func.sum(al.c.dismissed), 0),
                func.coalesce(func.sum(al.c.major), 0),
            )
            .select_from(e)
            .outerjoin(hz, hz.c.enterprise_id == e.c.id)
            .outerjoin(al, al.c.enterprise_id == e.c.id)
            .group_by(key)
        )
        rows = {r[0]: [int(v) for v in r[1:]] for r in self.session.execute(stmt)}
        if by == "town":
            towns = {t: name for t, name in self.session.execute(select(Town.id, Town.name))}
            keys: Iterable[str | None] = [
                *sorted(towns, key=lambda t: towns[t]),
                *(k for k in rows if k not in towns),
            ]
            if self.scope is not None:  # a scoped caller: only the towns of its enterprises
                keys = [k for k in keys if k in rows]
            names = {k: towns.get(k or "", NO_TOWN if k is None else k) for k in keys}
        else:
            keys = sorted(rows, key=lambda k: (k is None, k or ""))
            names = {k: label(INDUSTRY_LABELS, k) if k else "未登记行业" for k in keys}
        out = []
        zero = [0] * 9
        for k in keys:
            v = rows.get(k, zero)
            out.append(
                GroupFigures(
                    key=k, name=names[k], enterprises=v[0], red=v[1], orange=v[2], open_hazards=v[3],
                    overdue_hazards=v[4], alerts=v[5], confirmed=v[6], dismissed=v[7], major=v[8],
                )
            )  # fmt: skip
        out.sort(key=lambda g: (-g.alerts, -g.enterprises, g.key is None, g.name))  # most alerts first
        return out

    def trend(self) -> list[DayCount]:
        offset = int(
            (self.tz.utcoffset(datetime.fromtimestamp(self.now / 1000, UTC)) or timedelta()).total_seconds()
        )
        bucket = (Alert.started_ms + offset * 1000) // DAY_MS  # days since the epoch, local
        rows = self.session.execute(
            select(bucket.label("d"), func.count(), count_if(Alert.status.in_(CONFIRMED)))
            .where(
                Alert.started_ms >= self.since,
                Alert.started_ms <= self.now,
                Alert.enterprise.is_not(None),
                _in_scope(Alert.enterprise, self.scope),
            )
            .group_by(bucket)
        )
        by_day = {int(d): (int(n), int(c)) for d, n, c in rows}
        epoch = date(1970, 1, 1)
        first = datetime.fromtimestamp(self.since / 1000, self.tz).date()
        out = []
        day = first
        while day <= self.today:
            n, c = by_day.get((day - epoch).days, (0, 0))
            out.append(DayCount(day=day.isoformat(), alerts=n, confirmed=c))
            day += timedelta(days=1)
        return out

    def coverage(self) -> Coverage:
        """Cameras and nodes: the counts in SQL, each camera's state from its node's heartbeat
        (a few nodes, not the alerts)."""
        in_scope = _in_scope(Camera.enterprise_id, self.scope)
        cams, keys, unassigned = self.session.execute(
            select(func.count(), count_if(Camera.key_post), count_if(Camera.node.is_(None))).where(in_scope)
        ).one()
        key_ids = set(self.session.scalars(select(Camera.id).where(in_scope, Camera.key_post)))
        registry = registered_cameras(self.session)
        nodes = online_nodes = cams_online = keys_online = 0
        for node in self.session.scalars(select(Node).where(Node.site == self.config.site)):
            nodes += 1
            health = node_health(node, self.now).health
            online_nodes += health == "online"
            for c in node_cameras(node, health, registry.get(node.node, [])):
                if not c.registered or c.state != "online":
                    continue
                if self.scope is not None and c.enterprise_id not in self.scope:
                    continue
                cams_online += 1
                keys_online += c.camera in key_ids
        return Coverage(
            cameras=int(cams), cameras_online=cams_online, key_posts=int(keys), key_posts_online=keys_online,
            unassigned=int(unassigned), nodes=nodes, nodes_online=online_nodes,
        )  # fmt: skip

    def services(self) -> tuple[int, int]:
        first = datetime.fromtimestamp(self.since / 1000, self.tz).date().isoformat()
        records = self.session.scalar(
            select(func.count())
            .select_from(ServiceRecord)
            .where(
                _in_scope(ServiceRecord.enterprise_id, self.scope),
                ServiceRecord.date >= first,
                ServiceRecord.date <= self.today.isoformat(),
            )
        )
        requests = self.session.scalar(
            select(func.count())
            .select_from(ServiceRequest)
            .where(_in_scope(ServiceRequest.enterprise_id, self.scope), ServiceRequest.status == "open")
        )
        return int(records or 0), int(requests or 0)

    def attention(self) -> list[AttentionRow]:
        """Red and orange enterprises and those with overdue hazards: highest level, then most
        overdue hazards, then highest score first."""
        cur, hz, al = self.scores, self.hazard_counts(), self.alert_counts()
        rank = level_rank(cur.c.level)
        overdue = func.coalesce(hz.c.overdue, 0)
        stmt = (
            select(
                Enterprise.id, Enterprise.name, Enterprise.industry, Town.name, cur.c.level, cur.c.score,
                func.coalesce(hz.c.open, 0), overdue, func.coalesce(hz.c.major_open, 0),
                func.coalesce(al.c.alerts, 0),
            )
            .outerjoin(cur, cur.c.enterprise_id == Enterprise.id)
            .outerjoin(hz, hz.c.enterprise_id == Enterprise.id)
            .outerjoin(al, al.c.enterprise_id == Enterprise.id)
            .outerjoin(Town, Town.id == Enterprise.town_id)
            .where(_in_scope(Enterprise.id, self.scope), (rank >= 3) | (overdue > 0))
            .order_by(rank.desc(), overdue.desc(), func.coalesce(cur.c.score, 0).desc(), Enterprise.id)
            .limit(ATTENTION_MAX)
        )  # fmt: skip
        out = []
        for (
            eid,
            name,
            industry,
            town,
            level,
            score,
            n_open,
            n_overdue,
            n_major,
            n_alerts,
        ) in self.session.execute(stmt):
            out.append(
                AttentionRow(
                    enterprise_id=eid, name=name, industry=industry, town_name=town, level=level,
                    level_label=RISK_LEVEL_LABELS.get(level) if level else None,
                    score=score, open_hazards=int(n_open), overdue_hazards=int(n_overdue),
                    major_open=int(n_major), alerts=int(n_alerts),
                )
            )  # fmt: skip
        return out

    def answer(self) -> OverviewOut:
        total, levels, unscored = self.levels()
        scored_ms = self.session.scalar(
            select(func.max(self.scores.c.computed_ms)).where(
                _in_scope(self.scores.c.enterprise_id, self.scope)
            )
        )
        services, requests = self.services()
        return OverviewOut(
            as_of=iso_utc(self.now) or "",
            days=self.days,
            since=iso_utc(self.since) or "",
            scored_at=iso_utc(int(scored_ms)) if scored_ms is not None else None,
            enterprises=total,
            levels=levels,
            unscored=unscored,
            hazards=self.hazards(),
            by_town=self.groups("town"),
            by_industry=self.groups("industry"),
            trend=self.trend(),
            coverage=self.coverage(),
            services=services,
            open_requests=requests,
            attention=self.attention(),
        )

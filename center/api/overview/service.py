"""园区总览 figures, each one aggregate query (GROUP BY in the database, never a loop over alerts
or hazards): a district holds thousands of enterprises and their alerts. Levels come from the
stored daily scores (today's is refreshed every hour), not from scoring each enterprise anew."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
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
from center.domain import uptime
from center.domain.nodes import node_cameras, node_health, registered_cameras
from center.domain.scoring import CONFIRMED, LEVELS, latest_score, level_rank
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
        self.cur, self.cur_on = latest_score(Enterprise.id, self.today.isoformat())

    # --- building blocks ------------------------------------------------------------------

    def enterprises(self) -> Select[Any]:
        """Enterprises in scope with their latest stored score (outer: unscored ones too)."""
        cur = self.cur
        return (
            select(Enterprise.id, Enterprise.town_id, Enterprise.industry, cur.level, cur.score)
            .select_from(Enterprise)
            .outerjoin(cur, self.cur_on)
            .where(_in_scope(Enterprise.id, self.scope))
        )

    def in_period(self) -> list[ColumnElement[bool]]:
        """The period's alerts of the enterprises in scope."""
        return [
            Alert.started_ms >= self.since,
            Alert.started_ms <= self.now,
            Alert.enterprise.is_not(None),
            _in_scope(Alert.enterprise, self.scope),
        ]

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
        """The figures by 镇街 (``by="town"``) or by industry: two aggregates grouped by the key
        (the enterprises and their levels, their hazards) and the period's alerts from
        :attr:`alert_cube`, merged by key."""
        key = Enterprise.town_id if by == "town" else Enterprise.industry
        cur, is_open = self.cur, Hazard.status != CLOSED
        rows: dict[str | None, list[int]] = {}

        def add(stmt: Any, at: int) -> None:
            for k, *values in self.session.execute(stmt.group_by(key)):
                figures = rows.setdefault(k, [0] * 9)
                figures[at : at + len(values)] = [int(v) for v in values]

        add(
            select(key, func.count(), count_if(cur.level == "red"), count_if(cur.level == "orange"))
            .select_from(Enterprise)
            .outerjoin(cur, self.cur_on)
            .where(_in_scope(Enterprise.id, self.scope)),
            0,
        )
        add(
            select(key, count_if(is_open), count_if(is_open & (Hazard.deadline_ms < self.now)))
            .select_from(Hazard)
            .join(Enterprise, Enterprise.id == Hazard.enterprise_id)
            .where(_in_scope(Hazard.enterprise_id, self.scope)),
            3,
        )
        for (town, industry, _), figures in self.alert_cube.items():
            group = rows.setdefault(town if by == "town" else industry, [0] * 9)
            for i, n in enumerate(figures):
                group[5 + i] += n
        if by == "town":
            towns = {t: name for t, name in self.session.execute(select(Town.id, Town.name))}
            keys: Iterable[str | None] = [*towns, *(k for k in rows if k not in towns)]
            if self.scope is not None:  # a scoped caller: only the towns of its enterprises
                keys = [k for k in keys if k in rows]
            names = {k: towns.get(k or "", NO_TOWN if k is None else k) for k in keys}
        else:
            keys = list(rows)
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

    @cached_property
    def alert_cube(self) -> dict[tuple[str | None, str, int], tuple[int, int, int, int]]:
        """The period's alerts counted by (镇街, industry, local day) in one pass over them: how
        many, confirmed, dismissed, of severity 重大. A few hundred groups, whatever the alerts."""
        offset = self.tz.utcoffset(datetime.fromtimestamp(self.now / 1000, UTC)) or timedelta()
        bucket = (
            Alert.started_ms + int(offset.total_seconds()) * 1000
        ) // DAY_MS  # days since the epoch, local
        rows = self.session.execute(
            select(
                Enterprise.town_id,
                Enterprise.industry,
                bucket,
                func.count(),
                count_if(Alert.status.in_(CONFIRMED)),
                count_if(Alert.status == "dismissed"),
                count_if(Alert.severity == "major"),
            )
            .select_from(Alert)
            .join(Enterprise, Enterprise.id == Alert.enterprise)
            .where(*self.in_period())
            .group_by(Enterprise.town_id, Enterprise.industry, bucket)
        )
        return {(t, i, int(d)): (int(n), int(c), int(x), int(m)) for t, i, d, n, c, x, m in rows}

    def trend(self) -> list[DayCount]:
        by_day: dict[int, tuple[int, int]] = {}
        for (_, _, d), (n, c, _, _) in self.alert_cube.items():
            was = by_day.get(d, (0, 0))
            by_day[d] = (was[0] + n, was[1] + c)
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
        # online hours over the period, from the uptime spans (center/domain/uptime.py)
        created = dict(self.session.execute(select(Camera.id, Camera.created_ms).where(in_scope)).all())
        spans = uptime.uptime(self.session, created, self.since, self.now, self.now)
        everyone = uptime.total(spans.values())
        key_total = uptime.total(v for k, v in spans.items() if k in key_ids)
        return Coverage(
            cameras=int(cams), cameras_online=cams_online, key_posts=int(keys), key_posts_online=keys_online,
            unassigned=int(unassigned), nodes=nodes, nodes_online=online_nodes,
            online_rate=everyone.rate if everyone else None,
            key_online_rate=key_total.rate if key_total else None,
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
        overdue hazards, then highest score first. The candidates' overdue hazards are counted per
        enterprise through its index; the winners' other figures in one query each."""
        cur = self.cur
        overdue = (
            select(func.count())
            .where(
                Hazard.enterprise_id == Enterprise.id,
                Hazard.status != CLOSED,
                Hazard.deadline_ms < self.now,
            )
            .scalar_subquery()
        )
        candidates = (
            select(
                Enterprise.id.label("id"),
                level_rank(cur.level).label("rank"),
                func.coalesce(cur.score, 0).label("score"),
                overdue.label("overdue"),
            )
            .select_from(Enterprise)
            .outerjoin(cur, self.cur_on)
            .where(_in_scope(Enterprise.id, self.scope))
            .subquery("cand")
        )
        c = candidates.c
        top = self.session.execute(
            select(c.id, c.overdue)
            .where((c.rank >= 3) | (c.overdue > 0))
            .order_by(c.rank.desc(), c.overdue.desc(), c.score.desc(), c.id)
            .limit(ATTENTION_MAX)
        ).all()
        ids = [eid for eid, _ in top]
        if not ids:
            return []
        is_open = Hazard.status != CLOSED
        hazards = {
            eid: (int(n), int(major))
            for eid, n, major in self.session.execute(
                select(Hazard.enterprise_id, count_if(is_open), count_if(is_open & (Hazard.level == "major")))
                .where(Hazard.enterprise_id.in_(ids))
                .group_by(Hazard.enterprise_id)
            )
        }
        alerts = {
            eid: int(n)
            for eid, n in self.session.execute(
                select(Alert.enterprise, func.count())
                .where(*self.in_period(), Alert.enterprise.in_(ids))
                .group_by(Alert.enterprise)
            )
        }
        facts = {
            row[0]: row
            for row in self.session.execute(
                select(Enterprise.id, Enterprise.name, Enterprise.industry, Town.name, cur.level, cur.score)
                .select_from(Enterprise)
                .outerjoin(cur, self.cur_on)
                .outerjoin(Town, Town.id == Enterprise.town_id)
                .where(Enterprise.id.in_(ids))
            )
        }
        out = []
        for eid, n_overdue in top:
            _, name, industry, town, level, score = facts[eid]
            n_open, n_major = hazards.get(eid, (0, 0))
            out.append(
                AttentionRow(
                    enterprise_id=eid, name=name, industry=industry, town_name=town, level=level,
                    level_label=RISK_LEVEL_LABELS.get(level) if level else None,
                    score=score, open_hazards=n_open, overdue_hazards=int(n_overdue),
                    major_open=n_major, alerts=alerts.get(eid, 0),
                )
            )  # fmt: skip
        return out

    def answer(self) -> OverviewOut:
        total, levels, unscored = self.levels()
        scored_ms = self.session.scalar(
            select(func.max(self.cur.computed_ms))
            .select_from(Enterprise)
            .join(self.cur, self.cur_on)
            .where(_in_scope(Enterprise.id, self.scope))
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

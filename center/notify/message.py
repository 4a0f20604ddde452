"""What a notification says: the template fields of an alert or a hazard, and the rendered
subject and text (stored in the outbox row when it is enqueued)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from center.domain.vocabulary import RULE_TYPE_LABELS, SEVERITY_LABELS, label
from center.notify import templates


def idempotency_key(event_key: str, route: str, recipient: str) -> str:
    """The same for every attempt of one notification (receivers de-duplicate on it)."""
    digest = hashlib.sha256(f"{event_key}\x1f{route}\x1f{recipient}".encode()).hexdigest()
    return f"pgn-{digest[:32]}"


def local_time(ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")


def alert_fields(alert: Mapping[str, Any], site_name: str, base_url: str, tz: ZoneInfo) -> dict[str, str]:
    """The template fields of an alert (the API's AlertOut as a dict); names, never ids, where known."""
    snapshot = next((e for e in alert.get("evidence") or [] if e.get("kind") == "snapshot"), None)
    return {
        "site_name": site_name,
        "title": f"{label(SEVERITY_LABELS, alert['severity'])}告警",
        "enterprise": alert.get("enterprise_name") or alert.get("enterprise") or "未登记企业",
        "camera": alert.get("camera_name") or alert["camera"],
        "post": alert.get("post_name") or "",
        "rule": alert.get("rule_name") or label(RULE_TYPE_LABELS, alert["rule_type"]),
        "rule_type": label(RULE_TYPE_LABELS, alert["rule_type"]),
        "severity": label(SEVERITY_LABELS, alert["severity"]),
        "time": local_time(int(alert["started_ms"]), tz),
        "count": str(alert.get("count", "")),
        "link": f"{base_url}/alerts?event={alert['event_id']}",
        "snapshot": f"{base_url}/api/evidence/{snapshot['sha256']}" if snapshot else "",
        "event_id": alert["event_id"],
        "level": "",
        "hazard": "",
        "deadline": "",
    }


def payload(
    fields: Mapping[str, str],
    key: str,
    kind: str,
    subject_template: str | None = None,
    text_template: str | None = None,
) -> dict[str, Any]:
    """The outbox row's payload: subject and text rendered, the fields kept for the webhook."""
    values = {**fields, "idempotency_key": key}
    return {
        "kind": kind,
        "subject": templates.render(subject_template or templates.DEFAULT_SUBJECT, values)[:300],
        "text": templates.render(text_template or templates.DEFAULT_TEXT, values)[:4000],
        "fields": values,
    }

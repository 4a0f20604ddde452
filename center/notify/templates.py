"""Message templates of the notifications: ``str.format`` placeholders, checked when they are loaded.

A template names its fields in braces (``{enterprise}{camera}发生{rule}``); a field outside
:data:`FIELDS` is refused at config load (and by the API) with an error naming it, never at
delivery time. Values are filled in as plain text: no attribute or index look-ups
(``{a.b}``, ``{a[0]}``) and no conversion flags are allowed, so a template cannot reach into
Python objects.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

# every field a notification carries (center/notify/message.py fills them all)
FIELDS: dict[str, str] = {
    "site_name": "园区/中心名称",
    "title": "标题（告警/隐患/升级）",
    "enterprise": "企业名称",
    "camera": "摄像头名称",
    "post": "岗位",
    "rule": "规则名称",
    "rule_type": "规则类型（中文）",
    "severity": "严重程度（一般/较大/重大）",
    "time": "发生时间（园区时区）",
    "count": "人数/目标数",
    "link": "控制台链接",
    "snapshot": "抓拍图链接（无则为空）",
    "event_id": "事件编号",
    "level": "升级级别名称（仅升级通知）",
    "hazard": "隐患标题（仅隐患提醒）",
    "deadline": "整改期限（仅隐患提醒）",
    "idempotency_key": "幂等键（每条通知唯一）",
}
DEFAULT_SUBJECT = "【{site_name}】{title}：{enterprise} {camera} {rule}"
DEFAULT_TEXT = (
    "{title}\n企业：{enterprise}\n摄像头：{camera} {post}\n规则：{rule}（{severity}）\n"
    "时间：{time}\n查看：{link}\n抓拍：{snapshot}"
)
MAX_TEMPLATE_CHARS = 2000
_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template that does not parse or names a field that does not exist."""


def fields_of(template: str, known: Mapping[str, str] = FIELDS) -> list[str]:
    """The fields ``template`` uses; raises TemplateError naming an unknown field or a bad brace."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"template longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise TemplateError(
            f"template does not parse: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    used: list[str] = []
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        if name == "" or not name.isidentifier():
            raise TemplateError(f"template field {{{name}}}: use a plain name like {{enterprise}}")
        if conversion or spec:
            raise TemplateError(f"template field {{{name}}}: no format spec or conversion allowed")
        if name not in known:
            raise TemplateError(f"unknown template field {{{name}}}; known fields: {', '.join(known)}")
        used.append(name)
    return used


def check(template: str, known: Mapping[str, str] = FIELDS) -> str:
    """``template`` when it is valid (for pydantic validators)."""
    fields_of(template, known)
    return template


def render(template: str, values: Mapping[str, object]) -> str:
    """``template`` filled in; a field without a value renders empty."""
    out = []
    for text, name, _spec, _conv in _FORMATTER.parse(template):
        out.append(text)
        if name is not None:
            out.append(str(values.get(name, "")))
    return "".join(out)

"""Logging in: the credentials, the session token and who the caller is."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from center.api.schemas import derived
from center.api.users.schemas import AccountOut
from center.auth.policy import Principal, landing_path, nav_pages, offered
from center.domain.vocabulary import ROLE_LABELS, Role


class LoginIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "operator", "password": "operator-demo"}]},
    )
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class PageLink(BaseModel):
    key: str
    path: str
    label: str
    label_en: str


class MeOut(AccountOut):
    @derived
    def role_label(self) -> str:
        return ROLE_LABELS[Role(self.role)]

    def _principal(self) -> Principal:
        return Principal(role=Role(self.role), enterprise_id=self.enterprise_id, insurer_id=self.insurer_id)

    @derived
    def pages(self) -> list[PageLink]:
        """The console pages this account may open, in the navigation's order (the console
        builds its navigation from them)."""
        return [
            PageLink(key=p.key, path=path, label=p.label, label_en=p.label_en)
            for p, path in nav_pages(self._principal())
        ]

    @derived
    def may(self) -> list[str]:
        """The optional actions of those pages this account may take (route names: the console
        shows their buttons and parts only to it)."""
        return offered(self._principal())

    @derived
    def landing(self) -> str:
        """Where ``/`` takes this account."""
        return landing_path(self._principal())


class LoginOut(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer …'; browsers also get it as a cookie")
    expires_at: str
    user: MeOut

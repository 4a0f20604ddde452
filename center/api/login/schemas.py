"""Logging in: the credentials, the session token and who the caller is."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from center.api.schemas import derived
from center.api.users.schemas import AccountOut
from center.domain.vocabulary import ROLE_LABELS, Role


class LoginIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "operator", "password": "operator-demo"}]},
    )
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class MeOut(AccountOut):
    @derived
    def role_label(self) -> str:
        return ROLE_LABELS[Role(self.role)]


class LoginOut(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer …'; browsers also get it as a cookie")
    expires_at: str
    user: MeOut

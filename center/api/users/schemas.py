"""User accounts and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from center.api.schemas import RowOut, derived, iso_utc
from center.auth.security import MIN_PASSWORD_LENGTH
from center.domain.vocabulary import Role
from protocol import Id

Password = Annotated[
    str,
    StringConstraints(max_length=256),
    Field(
        description=f"at least {MIN_PASSWORD_LENGTH} characters, not the user name nor containing it, "
        "and hard to guess (zxcvbn score 3 of 4 or more); a weak one is answered 422 saying why"
    ),
]
DisplayName = Annotated[str, StringConstraints(max_length=64)]


class UserIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "yjmetal-safety",
                    "password": "a-long-password",
                    "role": "enterprise",
                    "display_name": "毅佳安全员",
                    "enterprise_id": "yj-metal",
                }
            ]
        },
    )
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-@]{2,64}$")]
    password: Password
    role: Role
    display_name: DisplayName = ""
    enterprise_id: Id | None = None
    insurer_id: Id | None = None
    node: Id | None = None


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"active": False}]})
    display_name: DisplayName | None = None
    password: Password | None = None
    active: StrictBool | None = None


class AccountOut(RowOut):
    """Who an account is: its name, role and what it is linked to (the caller's own in MeOut)."""

    username: str
    display_name: str
    role: str
    enterprise_id: str | None
    insurer_id: str | None
    node: str | None


class UserOut(AccountOut):
    id: int
    active: bool
    created_ms: int = Field(exclude=True)

    @derived
    def created_at(self) -> str:
        return iso_utc(self.created_ms) or ""


class AuditOut(RowOut):
    id: int
    ts_ms: int
    username: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    ip: str

    @derived
    def at(self) -> str:
        return iso_utc(self.ts_ms) or ""

"""Health and site information."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str
    database: str
    mqtt: str
    version: str


class Ready(BaseModel):
    ready: bool = Field(description="the database answers and its schema is the one this code needs")
    database: str = Field(description='"ok" or a one-line error')
    schema_revision: str | None = Field(description="the migration the database is at (null: none, unknown)")
    schema_needed: str | None = Field(description="the migration this code needs")
    detail: str = Field(description="why not ready, in one line (empty when ready)")


class SiteInfo(BaseModel):
    site: str
    site_name: str
    timezone: str

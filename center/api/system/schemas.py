"""Health and site information."""

from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    status: str
    database: str
    mqtt: str
    version: str


class SiteInfo(BaseModel):
    site: str
    site_name: str
    timezone: str

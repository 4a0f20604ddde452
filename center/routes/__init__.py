"""The center's routers, one module per subject (full-stack-fastapi-template style)."""

from __future__ import annotations

from fastapi import APIRouter

from center.routes import (
    alerts,
    auth,
    cameras,
    card,
    enterprises,
    evidence,
    hazards,
    nodeconfig,
    nodes,
    pages,
    risk,
    system,
    users,
)

API_ROUTERS: list[APIRouter] = [
    system.router,
    auth.router,
    users.router,
    enterprises.router,
    cameras.router,
    nodes.router,
    nodeconfig.router,
    alerts.router,
    hazards.router,
    evidence.router,
    risk.router,
    card.router,
]
PAGE_ROUTER = pages.router

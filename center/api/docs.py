"""The API's documentation pages: ``/api/docs`` (Swagger UI) and ``/api/redoc`` (ReDoc), both from
the installed ``fastapi-offline`` package (its ``static/`` files), served by the center under
``/static/swagger-ui/``, started by ``/static/api-docs.js`` and ``/static/api-redoc.js`` (no CDN,
no web font, nothing inline, so they run under the Content-Security-Policy of
center/api/headers.py). ``/api/openapi.json`` is the schema."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SWAGGER_UI_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
SWAGGER_UI_URL = "/static/swagger-ui"
DOCS_URL = "/api/docs"
REDOC_URL = "/api/redoc"


async def api_docs(_request: Request) -> HTMLResponse:
    page = (WEB_DIR / "api-docs.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


async def api_redoc(_request: Request) -> HTMLResponse:
    page = (WEB_DIR / "api-redoc.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


def install_docs(app: FastAPI) -> None:
    """Add the page and its assets (before the ``/static`` mount, which would shadow them)."""
    app.mount(SWAGGER_UI_URL, StaticFiles(directory=SWAGGER_UI_DIR), name="swagger_ui")
    app.add_route(DOCS_URL, api_docs, include_in_schema=False)
    app.add_route(REDOC_URL, api_redoc, include_in_schema=False)

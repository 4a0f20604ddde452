"""The API's documentation pages: ``/api/docs`` (Swagger UI) and ``/api/redoc`` (ReDoc), both from
the installed ``fastapi-offline`` package (its ``static/`` files), served by the center under
``/static/swagger-ui/``, started by ``/static/api-docs.js`` and ``/static/api-redoc.js`` (no CDN,
no web font, nothing inline, so they run under the Content-Security-Policy of
center/api/headers.py). ReDoc comes with its sidebar logo's address (its CDN) replaced by the
center's favicon, and with its search off (the search runs in a ``blob:`` worker, which the
policy forbids; Swagger UI's filter does the job). ``/api/openapi.json`` is the schema."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SWAGGER_UI_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
SWAGGER_UI_URL = "/static/swagger-ui"
DOCS_URL = "/api/docs"
REDOC_URL = "/api/redoc"


async def api_docs(_request: Request) -> HTMLResponse:
    page = (WEB_DIR / "api-docs.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


REDOC_JS_URL = "/static/redoc/redoc.standalone.js"
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"  # its sidebar's logo: the only outside fetch


@lru_cache(maxsize=1)
def _redoc_js() -> bytes:
    """The packaged ReDoc with its one outside address (a logo) pointing at the center's favicon."""
    return (SWAGGER_UI_DIR / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, b"/static/favicon.svg")


async def redoc_js(_request: Request) -> Response:
    return Response(
        _redoc_js(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
    )


async def api_redoc(_request: Request) -> HTMLResponse:
    page = (WEB_DIR / "api-redoc.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


def install_docs(app: FastAPI) -> None:
    """Add the page and its assets (before the ``/static`` mount, which would shadow them)."""
    app.mount(SWAGGER_UI_URL, StaticFiles(directory=SWAGGER_UI_DIR), name="swagger_ui")
    app.add_route(DOCS_URL, api_docs, include_in_schema=False)
    app.add_route(REDOC_URL, api_redoc, include_in_schema=False)
    app.add_route(REDOC_JS_URL, redoc_js, include_in_schema=False)

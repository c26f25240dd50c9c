"""The admin console at ``/console``: server-rendered pages for an org's admins and Tills to
register, inspect, change, rotate and delete API clients, with its own assets (no CDN)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from keyloft.web.console.pages import PREFIX, STATIC
from keyloft.web.console.routes import router


def install(app: FastAPI) -> None:
    """Serve the console's pages and its static assets."""
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")

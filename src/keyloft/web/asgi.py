"""ASGI entry point for servers: ``uvicorn keyloft.web.asgi:create --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from keyloft.config import Settings
from keyloft.web.app import create_app


def create() -> FastAPI:
    return create_app(Settings())

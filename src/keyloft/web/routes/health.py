"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from keyloft.web.deps import RuntimeDep

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> Response:
    """The process answers."""
    return JSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(rt: RuntimeDep) -> Response:
    """The store answers; 503 otherwise."""
    try:
        async with rt.database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "store": "down"}, status_code=503)
    return JSONResponse({"status": "ok", "store": "up"})

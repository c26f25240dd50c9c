"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.responses import JSONResponse, Response

from keyloft.web.deps import RuntimeDep
from keyloft.web.errors import STORE_FAILURES

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> Response:
    """The process answers."""
    return JSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(rt: RuntimeDep) -> Response:
    """503 while the store is unreachable; ``degraded`` while Redis is (the node still serves
    correctly then, from the store, with its client cache off)."""
    try:
        async with rt.database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        store = "up"
    except (*STORE_FAILURES, DBAPIError):  # any driver error here: not ready
        store = "down"
    redis = "off"
    if rt.redis is not None:
        redis = "up" if rt.bus.healthy else "down"
    if store == "down":
        status, code = "unavailable", 503
    else:
        status, code = ("degraded" if redis == "down" else "ok"), 200
    return JSONResponse(
        {"status": status, "store": store, "redis": redis, "clientCache": rt.cache.enabled},
        status_code=code,
        headers={"Cache-Control": "no-store"},
    )

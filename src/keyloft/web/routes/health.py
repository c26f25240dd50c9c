"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from keyloft.domain.errors import StoreUnavailable
from keyloft.web.oauth_schemas import LiveOut, ReadyOut
from keyloft.web.openapi import answers
from keyloft.web.wiring import RuntimeDep

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", name="health_live", responses=answers.oauth(LiveOut, description="Alive."))
async def live() -> Response:
    """The process answers."""
    return JSONResponse({"status": "ok"})


@router.get(
    "/ready",
    name="health_ready",
    responses={
        **answers.oauth(ReadyOut, description="Ready (or degraded: Redis is away)."),
        503: {"model": ReadyOut, "description": "Not ready: the store is unreachable."},
    },
)
async def ready(rt: RuntimeDep) -> Response:
    """503 while the store is unreachable; ``degraded`` while Redis is (the node still serves
    correctly then, from the store, with its client cache off)."""
    try:
        await rt.database.ping()
        store = "up"
    except StoreUnavailable:
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

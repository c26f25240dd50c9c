"""``keyloft serve``: check that the deployment can serve (settings, server secret, a signing
key, tracing when asked for), then run the API under uvicorn."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Annotated

import typer
from pydantic import ValidationError

from keyloft.cli.output import fail
from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.observability import logs, tracing
from keyloft.services.operators import OperatorServices
from keyloft.services.server_secret import MissingServerSecret, require_server_secret


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the API."""
    import uvicorn

    from keyloft.web.server import SERVER_OPTIONS

    settings = _ready_settings()
    # Uvicorn applies the same configuration in each worker; its access log stays off
    # (SERVER_OPTIONS: Keyloft writes its own).
    log_config = logs.configure(settings.log_level, settings.log_format or "json")
    # Worker processes read their settings afresh: tell them how many of them there are.
    os.environ["KEYLOFT_WORKERS"] = str(workers)
    metrics_dir = None
    if workers > 1:
        # Each worker counts into files here, read together at a scrape. Workers are fresh
        # interpreters, so they see this before they first import prometheus_client.
        metrics_dir = tempfile.mkdtemp(prefix="keyloft-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "keyloft.web.asgi:create",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config,
            log_level=settings.log_level.lower(),
            **SERVER_OPTIONS,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _ready_settings() -> Settings:
    """The settings, once the deployment is known to be able to serve; else the command
    ends saying why."""
    try:
        settings = Settings()
    except ValidationError as exc:
        fail("invalid settings: " + _problems(exc))
    try:
        require_server_secret(settings)
    except MissingServerSecret as exc:
        fail(str(exc))
    if with_services(settings, _signing_keys) == 0:
        fail("the database has no signing key: run `keyloft init`")
    if settings.otel_endpoint:
        try:
            tracing.ensure_available()
        except tracing.TracingUnavailable as exc:
            fail(str(exc))
    return settings


def _problems(exc: ValidationError) -> str:
    # Name the variables, never echo their values: some are secrets.
    names = [str(error["loc"][0]) if error["loc"] else "" for error in exc.errors()]
    return "; ".join(
        f"{name if name.isupper() else 'KEYLOFT_' + name.upper()}: {error['msg']}"
        for name, error in zip(names, exc.errors(), strict=True)
    )


async def _signing_keys(services: OperatorServices) -> int:
    return await services.keys.count()

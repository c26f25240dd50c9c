"""A node whose every database connection goes through a TCP proxy the test controls, to cut,
stall and restore the database under it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.engine import make_url

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.integration.tcp_proxy import TcpProxy
from tests.support.api import BASE_URL

BOUNDED = 10.0  # seconds within which a request answers, whatever the database does


@dataclass
class ProxiedNode:
    proxy: TcpProxy
    runtime: Runtime
    http: httpx.AsyncClient


@asynccontextmanager
async def proxied_node(settings: Settings) -> AsyncIterator[ProxiedNode]:
    """A runtime and app whose every database connection goes through a proxy."""
    direct = make_url(settings.database_url)
    async with TcpProxy(direct.host or "127.0.0.1", direct.port or 5432) as proxy:
        proxied_url = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        )
        proxied = settings.model_copy(update={"database_url": proxied_url})
        runtime = await build_runtime(proxied, database=Database(create_engine(proxied_url)))
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        try:
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
                yield ProxiedNode(proxy, runtime, http)
        finally:
            await runtime.close()

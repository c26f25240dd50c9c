"""A live Keyloft over real HTTP for independent client libraries: uvicorn in a background
thread on a free 127.0.0.1 port, building its own runtime in its own event loop, with an org
and a client created through the API."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn

from keyloft.config import Settings
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.interop.secretless import SecretlessClient, generate_key, register
from tests.support.api import client_body, make_org
from tests.support.live import LiveServer

START_SECONDS = 20.0
SCOPES = [
    {"entityId": 1, "permission": "READWRITE", "resources": [".*v3/targetGroups.*"]},
    {"entityId": 2, "permission": "READ", "resources": []},
]


async def _wait_ready(url: str, thread: threading.Thread) -> None:
    """Poll the readiness probe until it answers 200, the thread dies, or time runs out."""
    deadline = time.monotonic() + START_SECONDS
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise RuntimeError("the server stopped while starting")
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(f"the server at {url} was not ready within {START_SECONDS:g}s")


@asynccontextmanager
async def _serving(settings: Settings, database: Database) -> AsyncIterator[LiveServer]:
    """Keyloft with ``settings`` on a free port, an org and a client created through the API;
    stopped on the way out."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    app = create_app(settings.model_copy(update={"issuer": url}))
    config = uvicorn.Config(
        app, lifespan="on", http="h11", ws="none", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="keyloft-live", daemon=True
    )
    thread.start()
    try:
        await _wait_ready(url, thread)
        org = await make_org(database, "Interop")
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
            created = await http.post(
                "/v3/integrations/clients",
                json=client_body(org, scopes=SCOPES),
                auth=(org.admin.code, org.admin.password),
            )
        assert created.status_code == 200, created.text
        data = created.json()["data"]
        yield LiveServer(url, org, data["clientKey"], data["clientSecret"])
    finally:
        server.should_exit = True
        thread.join(timeout=START_SECONDS)
        listener.close()
    assert not thread.is_alive(), "the server did not stop"


@pytest.fixture
async def live(settings: Settings, database: Database) -> AsyncIterator[LiveServer]:
    async with _serving(settings, database) as server:
        yield server


@pytest.fixture
async def live_dpop_nonces(settings: Settings, database: Database) -> AsyncIterator[LiveServer]:
    """``live`` with ``dpop_nonce="required"`` (KEYLOFT_DPOP_NONCE=required): DPoP proofs must
    carry the server's nonce (RFC 9449 §8)."""
    required = settings.model_copy(update={"dpop_nonce": "required"})
    async with _serving(required, database) as server:
        yield server


@pytest.fixture
def secretless(live: LiveServer) -> Callable[..., SecretlessClient]:
    """Creates private_key_jwt clients of the live server's org: each call makes a new key for
    the algorithm it is given (RS256, ES256, ES384, EdDSA) and registers its public half, with
    that ``alg`` unless ``declare_alg`` is false."""

    def create(alg: str, *, declare_alg: bool = True) -> SecretlessClient:
        key = generate_key(alg, declare_alg=declare_alg)
        return SecretlessClient(register(live.url, live.org, key, SCOPES), key)

    return create

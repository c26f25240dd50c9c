"""What callers receive when the store fails, byte for byte: 409 when a constraint refuses a
concurrent change; 503 with Retry-After while the database cannot be reached, as the v3
envelope or, on the OAuth endpoints, RFC 6749's error object; and a readiness probe that
says the store is down."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import IntegrityError

from keyloft.runtime import Runtime
from keyloft.storage.engine import create_engine
from keyloft.storage.repositories import SqlClients
from keyloft.storage.store import Database
from keyloft.web.envelope import dump
from tests.support.api import OrgFixture, client_basic, client_body

CLIENTS = "/v3/integrations/clients"
CONFLICT = "The change conflicts with a concurrent change; retry."
UNAVAILABLE = "The store is unavailable; retry shortly."


async def test_a_constraint_a_concurrent_change_hit_answers_409(
    http: httpx.AsyncClient, org: OrgFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def collide(*_args: object, **_kwargs: object) -> bool:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(SqlClients, "name_in_use", collide)
    answer = await http.post(CLIENTS, json=client_body(org), headers=org.auth)
    assert answer.status_code == 409
    assert answer.content == dump({"data": None, "errors": [{"code": 4090, "message": CONFLICT}]})


@pytest.fixture
async def store_away(runtime: Runtime, org: OrgFixture, tmp_path: Path) -> AsyncIterator[None]:
    """The node's database swapped (once ``org`` is made) for one that cannot be opened."""
    before = set(threading.enumerate())
    dead = Database(create_engine(f"sqlite:///{tmp_path}/missing/dir/keyloft.db"))
    live, runtime.database = runtime.database, dead
    yield
    runtime.database = live
    await dead.dispose()
    # aiosqlite stops the worker thread of a failed connect without waiting for it.
    for thread in set(threading.enumerate()) - before:
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 5)


@pytest.mark.usefixtures("store_away")
async def test_an_unreachable_store_answers_503_with_retry_after(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    listed = await http.get(CLIENTS, headers=org.auth)
    assert listed.status_code == 503
    assert listed.headers["Retry-After"] == "1"
    assert listed.content == dump(
        {"data": None, "errors": [{"code": 5030, "message": UNAVAILABLE, "retryAfter": 1}]}
    )

    token = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=client_basic("unknownkey", "secret"),
    )
    assert token.status_code == 503
    assert token.headers["Retry-After"] == "1"
    assert token.headers["Cache-Control"] == "no-store"
    assert token.headers["Pragma"] == "no-cache"
    assert token.json() == {"error": "temporarily_unavailable", "error_description": UNAVAILABLE}

    ready = await http.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["store"] == "down"

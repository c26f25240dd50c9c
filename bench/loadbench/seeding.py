"""The store a run measures (SQLite in the working directory, or a PostgreSQL database of its
own, created and dropped here) and seeding it through the real command line and API: init,
an org, an admin, a Till and the clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.integration.nodes import keyloft
from tests.support.stores import DEFAULT_POSTGRES, postgres_admin

from loadbench.processes import Server
from loadbench.wire import basic

SCOPES = [
    {"entityId": 2, "permission": "READWRITE", "resources": []},
    {"entityId": 1, "permission": "READ", "resources": []},
]


@dataclass
class Store:
    """Where the deployment keeps its state, and how to remove it afterwards."""

    env: dict[str, str]
    postgres_url: str | None = None
    cleanup: Callable[[], None] = lambda: None


@contextlib.contextmanager
def open_store(
    kind: str, workdir: Path, redis_url: str | None, algorithm: str = "RS256"
) -> Iterator[Store]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYLOFT_")}
    env.update(
        {
            "KEYLOFT_SECRET_KEY": "bench-server-secret-" + secrets.token_urlsafe(32),
            "KEYLOFT_ISSUER": "http://keyloft.bench",
            "KEYLOFT_LOG_LEVEL": "WARNING",
            "KEYLOFT_SIGNING_ALGORITHM": algorithm,
        }
    )
    if redis_url:
        env["KEYLOFT_REDIS_URL"] = redis_url
    if kind == "sqlite":
        env["KEYLOFT_DATABASE_URL"] = f"sqlite:///{workdir / 'keyloft.db'}"
        yield Store(env)
        return
    from sqlalchemy.engine import make_url

    server = os.environ.get("KEYLOFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    name = f"keyloft_bench_{secrets.token_hex(4)}"
    asyncio.run(postgres_admin(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    env["KEYLOFT_DATABASE_URL"] = url
    try:
        yield Store(env, postgres_url=url)
    finally:
        asyncio.run(postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Seed:
    org_id: int
    admin: tuple[str, str]
    till_id: int
    clients: list[tuple[str, str]] = field(default_factory=list)


def seed_org(env: dict[str, str], clients: int) -> Seed:
    keyloft(env, "init")
    org = keyloft(
        env,
        "org",
        "create",
        "--name",
        f"Bench {secrets.token_hex(3)}",
        "--max-clients",
        str(max(clients, 15)),
        "--json",
    )
    password = secrets.token_urlsafe(18)
    admin = keyloft(
        env,
        "admin",
        "create",
        "--org",
        str(org["id"]),
        "--username",
        f"bench-admin-{secrets.token_hex(3)}",
        "--password-stdin",
        "--json",
        stdin=password + "\n",
    )
    till = keyloft(
        env, "till", "create", "--org", str(org["id"]), "--code", "bench.till.1", "--json"
    )
    return Seed(org["id"], (admin["username"], password), till["id"])


async def create_clients(url: str, seed: Seed, count: int) -> list[tuple[str, str]]:
    """``count`` clients through the API, as an admin would create them."""
    headers = {"Authorization": basic(*seed.admin)}
    limit = asyncio.Semaphore(4)

    async def one(http: httpx.AsyncClient, n: int) -> tuple[str, str]:
        body = {
            "name": f"bench-client-{n}",
            "description": "load benchmark",
            "expirationTokenTime": 3600,
            "defaultTillId": seed.till_id,
            "scopes": SCOPES,
        }
        async with limit:
            answer = await http.post("/v3/integrations/clients", json=body, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"creating a client failed: {answer.status_code} {answer.text}")
        data = answer.json()["data"]
        return data["clientKey"], data["clientSecret"]

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        return list(await asyncio.gather(*(one(http, n) for n in range(count))))


def seed_store(env: dict[str, str], count: int, workdir: Path) -> Seed:
    """The org, its admin and Till, and ``count`` clients made through a one-worker server."""
    seed = seed_org(env, count)
    server = Server.start("seeding", [sys.executable, "-m", "keyloft", "serve"], env, workdir)
    try:
        server.wait("/health/ready")
        seed.clients = asyncio.run(create_clients(server.url, seed, count))
    finally:
        server.stop()
    return seed

"""How long until a change made on one node, or at the command line, reaches another node.

Starts two `keyloft serve` processes on one database and, for each deployment, measures the
time from a change's acknowledgement (the `keyloft` command's exit, or the API's answer) to the
other node answering accordingly:

- `admin passwd`: the old password refused (401) on node B;
- `admin disable`, `admin delete`, `till disable`: the login refused on B;
- `admin enable`: the login accepted again on B;
- `org update --timezone`: B's client list in the new zone;
- a client deleted through A's API: its token refused on B.

B serves each login (or client) from its copies just before the change, so the figure is how
long B's copy outlives the change, plus B's answer itself: a refused login costs one argon2
verification, printed first as "a refused login's own answer". Deployments: PostgreSQL with
Redis (the bus), SQLite without Redis (each node watches the database file), and PostgreSQL
without Redis (no bus: B's copy lives until KEYLOFT_CLIENT_CACHE_SECONDS, the backstop, 30 s
by default).

    .venv/bin/python bench/propagation.py [--trials 5] [--backstop-trials 1]
        [--deployments redis,sqlite,backstop]
    (KEYLOFT_TEST_POSTGRES_URL / KEYLOFT_TEST_REDIS_URL name the servers; defaults: local)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.nodes import Deployment, deployment, keyloft
from tests.support.redis_servers import DEFAULT_REDIS
from tests.support.stores import DEFAULT_POSTGRES, postgres_admin

SCOPES = "/v3/integrations/scopes"
CLIENTS = "/v3/integrations/clients"
GIVE_UP = 60.0  # seconds: longer than any backstop measured here
POLL = 0.002
# Polling with refused credentials must not reach the failed-login limits.
SETTINGS = {"KEYLOFT_AUTH_FAILURE_LIMIT": "100000", "KEYLOFT_AUTH_FAILURE_IP_LIMIT": "100000"}
Results = dict[str, list[tuple[float, float]]]  # what -> [(command s, propagation s)]


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


async def until(check: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until ``check`` holds, from now."""
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > GIVE_UP:
            raise RuntimeError(f"no change seen on the other node after {GIVE_UP} s")
        await asyncio.sleep(POLL)
    return time.perf_counter() - started


async def command(nodes: Deployment, *args: str, stdin: str | None = None) -> tuple[Any, float]:
    """Run ``keyloft args`` (its own process, as an operator would); its output and duration."""
    started = time.perf_counter()
    out = await asyncio.to_thread(keyloft, nodes.env, *args, stdin=stdin)
    return out, time.perf_counter() - started


class Bench:
    def __init__(self, nodes: Deployment, a: httpx.AsyncClient, b: httpx.AsyncClient) -> None:
        self.nodes, self.a, self.b = nodes, a, b
        self.org = str(nodes.org_id)
        self.results: Results = {}

    def note(self, what: str, took_command: float, took: float) -> None:
        self.results.setdefault(what, []).append((took_command, took))

    async def status(self, login: str, password: str) -> int:
        return (await self.b.get(SCOPES, headers=basic(login, password))).status_code

    async def warm(self, login: str, password: str) -> None:
        for _ in range(3):
            if await self.status(login, password) != 200:
                raise RuntimeError(f"{login} not accepted before the change")

    async def new_admin(self) -> tuple[str, str]:
        login, password = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(18)
        await command(
            self.nodes,
            *("admin", "create", "--org", self.org, "--username", login, "--password-stdin"),
            stdin=password + "\n",
        )
        return login, password

    async def refused(self, what: str, login: str, password: str, *args: str) -> None:
        await self.warm(login, password)
        _, took_command = await command(self.nodes, *args)

        async def refused() -> bool:
            return await self.status(login, password) == 401

        self.note(what, took_command, await until(refused))

    async def admin_passwd(self) -> None:
        login, password = await self.new_admin()
        args = ("--org", self.org, "--username", login)
        await self.refused("admin passwd", login, password, "admin", "passwd", *args)

    async def admin_disable_enable(self) -> None:
        login, password = await self.new_admin()
        args = ("--org", self.org, "--username", login)
        await self.refused("admin disable", login, password, "admin", "disable", *args)
        _, took_command = await command(self.nodes, "admin", "enable", *args)

        async def accepted() -> bool:
            return await self.status(login, password) == 200

        self.note("admin enable", took_command, await until(accepted))

    async def admin_delete(self) -> None:
        login, password = await self.new_admin()
        args = ("--org", self.org, "--username", login)
        await self.refused("admin delete", login, password, "admin", "delete", *args)

    async def till_disable(self) -> None:
        code, password = f"bench.till.{secrets.token_hex(4)}", secrets.token_urlsafe(18)
        await command(
            self.nodes,
            *("till", "create", "--org", self.org, "--code", code, "--password-stdin"),
            stdin=password + "\n",
        )
        await self.refused(
            "till disable", code, password, "till", "disable", "--org", self.org, "--code", code
        )

    async def org_update(self, client_key: str, zones: Iterator[tuple[str, str]]) -> None:
        zone, offset = next(zones)
        admin = basic(*self.nodes.admin)

        async def created_on() -> str:
            listed = (await self.b.get(CLIENTS, headers=admin)).json()["data"]
            client = next(c for c in listed if c["clientKey"] == client_key)
            found: str = client["attribution"]["createdOn"]
            return found

        await created_on()  # B holds the org's list
        _, took_command = await command(
            self.nodes, "org", "update", self.org, "--timezone", zone, "--json"
        )

        async def zoned() -> bool:
            return (await created_on()).endswith(offset)

        self.note("org update --timezone", took_command, await until(zoned))

    async def client_delete(self, n: int) -> None:
        admin = basic(*self.nodes.admin)
        body = {
            "name": f"propagation-{n}-{secrets.token_hex(3)}",
            "description": "",
            "expirationTokenTime": 600,
            "defaultTillId": self.nodes.till_id,
            "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
        }
        data = (await self.a.post(CLIENTS, json=body, headers=admin)).json()["data"]
        minted = await self.b.post(
            "/v3/oauth/token/generate",
            json={"key": data["clientKey"], "secret": data["clientSecret"]},
        )
        use = {"X-CAP-API-OAUTH-TOKEN": minted.json()["data"]["accessToken"]}
        for _ in range(3):
            assert (await self.b.get(SCOPES, headers=use)).status_code == 200
        started = time.perf_counter()
        await self.a.delete(f"{CLIENTS}/{data['clientKey']}", headers=admin)
        took_command = time.perf_counter() - started

        async def refused() -> bool:
            return (await self.b.get(SCOPES, headers=use)).status_code == 401

        self.note("client delete (API on A)", took_command, await until(refused))


async def run(nodes: Deployment, trials: int) -> Results:
    async with (
        httpx.AsyncClient(base_url=nodes.nodes[0].url, timeout=30) as a,
        httpx.AsyncClient(base_url=nodes.nodes[1].url, timeout=30) as b,
    ):
        bench = Bench(nodes, a, b)
        admin = basic(*nodes.admin)
        body = {
            "name": "zoned",
            "description": "",
            "expirationTokenTime": 600,
            "defaultTillId": nodes.till_id,
            "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
        }
        zoned = (await a.post(CLIENTS, json=body, headers=admin)).json()["data"]["clientKey"]
        for _ in range(5):  # what a refusal itself costs: one argon2 check, no propagation
            started = time.perf_counter()
            assert await bench.status("bench-nobody", "no-such-password") == 401
            bench.note("(a refused login's own answer)", 0.0, time.perf_counter() - started)
        zones = iter([("Asia/Kolkata", "+0530"), ("UTC", "+0000")] * trials)
        for n in range(trials):
            await bench.admin_passwd()
            await bench.admin_disable_enable()
            await bench.admin_delete()
            await bench.till_disable()
            await bench.org_update(zoned, zones)
            await bench.client_delete(n)
        return bench.results


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/keyloft.db"
        return
    server = os.environ.get("KEYLOFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    name = f"keyloft_bench_{secrets.token_hex(4)}"
    asyncio.run(postgres_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


DEPLOYMENTS = {
    "redis": ("postgresql", True, "PostgreSQL + Redis (the bus)"),
    "sqlite": ("sqlite", False, "SQLite, no Redis (the file watch)"),
    "backstop": ("postgresql", False, "PostgreSQL, no Redis (the backstop)"),
}


def report(title: str, results: Results) -> None:
    print(f"\n{title}: from acknowledgement to the other node's answer, ms")
    print(f"  {'change':<32}{'n':>3}{'median':>9}{'max':>9}{'min':>9}   command (median)")
    for what, pairs in results.items():
        ms = sorted(took * 1000 for _, took in pairs)
        ran = statistics.median(took_command for took_command, _ in pairs)
        print(
            f"  {what:<32}{len(ms):>3}{statistics.median(ms):>9.1f}{ms[-1]:>9.1f}{ms[0]:>9.1f}"
            f"   {ran:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="per change (bus and file watch)")
    parser.add_argument("--backstop-trials", type=int, default=1, help="per change, no Redis")
    parser.add_argument("--deployments", default="redis,sqlite,backstop")
    options = parser.parse_args()
    redis_url = os.environ.get("KEYLOFT_TEST_REDIS_URL", DEFAULT_REDIS)
    for name in options.deployments.split(","):
        store, with_redis, title = DEPLOYMENTS[name]
        trials = options.backstop_trials if name == "backstop" else options.trials
        with (
            tempfile.TemporaryDirectory() as workdir,
            database(store, Path(workdir)) as url,
            deployment(
                url, redis_url if with_redis else None, Path(workdir), settings=SETTINGS
            ) as nodes,
        ):
            results = asyncio.run(run(nodes, trials))
        report(title, results)


if __name__ == "__main__":
    main()

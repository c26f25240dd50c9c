"""How long until a delete on one node stops the client's token on another node.

Starts two `keyloft serve` processes on one PostgreSQL database and one Redis, then, for each
trial: creates a client on A, mints a token, warms B's cache with it, deletes the client on A
and polls B with the token until it is refused. Prints the distribution of the time from the
delete's acknowledgement to the first refusal.

    .venv/bin/python bench/propagation.py [--trials 50]
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
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.nodes import Deployment, deployment
from tests.support.redis_servers import DEFAULT_REDIS
from tests.support.stores import DEFAULT_POSTGRES, postgres_admin


async def trial(nodes: Deployment, a: httpx.AsyncClient, b: httpx.AsyncClient, n: int) -> float:
    body = {
        "name": f"propagation-{n}",
        "description": "",
        "expirationTokenTime": 600,
        "defaultTillId": nodes.till_id,
        "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
    }
    data = (await a.post("/v3/integrations/clients", json=body)).json()["data"]
    minted = await b.post(
        "/v3/oauth/token/generate", json={"key": data["clientKey"], "secret": data["clientSecret"]}
    )
    use = {"X-CAP-API-OAUTH-TOKEN": minted.json()["data"]["accessToken"], "Authorization": ""}
    for _ in range(3):
        assert (await b.get("/v3/integrations/scopes", headers=use)).status_code == 200
    await a.delete(f"/v3/integrations/clients/{data['clientKey']}")
    acknowledged = time.perf_counter()
    while (await b.get("/v3/integrations/scopes", headers=use)).status_code != 401:
        if time.perf_counter() - acknowledged > 10:
            raise RuntimeError("token still honoured after 10 s")
    return time.perf_counter() - acknowledged


async def run(nodes: Deployment, trials: int) -> list[float]:
    user, password = nodes.admin
    auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    async with (
        httpx.AsyncClient(base_url=nodes.nodes[0].url, headers=auth, timeout=30) as a,
        httpx.AsyncClient(base_url=nodes.nodes[1].url, headers=auth, timeout=30) as b,
    ):
        return [await trial(nodes, a, b, n) for n in range(trials)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    trials = parser.parse_args().trials
    server = os.environ.get("KEYLOFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    redis_url = os.environ.get("KEYLOFT_TEST_REDIS_URL", DEFAULT_REDIS)
    name = f"keyloft_bench_{secrets.token_hex(4)}"
    asyncio.run(postgres_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        with (
            tempfile.TemporaryDirectory() as workdir,
            deployment(url, redis_url, Path(workdir)) as nodes,
        ):
            # The org allows 15 active clients; each trial deletes its own, so any count works.
            times = asyncio.run(run(nodes, trials))
    finally:
        asyncio.run(postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    ms = sorted(t * 1000 for t in times)
    print(f"delete -> refused on the other node, {trials} trials (ms)")
    print(
        f"median {statistics.median(ms):.1f}  p95 {ms[int(0.95 * (len(ms) - 1))]:.1f}  "
        f"max {ms[-1]:.1f}  min {ms[0]:.1f}"
    )


if __name__ == "__main__":
    main()

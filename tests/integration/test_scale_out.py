"""Two real ``keyloft serve`` processes on one PostgreSQL database and one Redis.

Create on A, read on B; delete on A and B refuses the client's existing token within 1 s;
the per-org client limit holds across both.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.integration.nodes import Deployment, deployment
from tests.support.redis_servers import DEFAULT_REDIS
from tests.support.stores import DEFAULT_POSTGRES, postgres_admin

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scale_database() -> Iterator[str]:
    server = os.environ.get("KEYLOFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    name = f"keyloft_scale_{secrets.token_hex(4)}"
    try:
        asyncio.run(postgres_admin(server, f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def nodes(scale_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    redis_url = os.environ.get("KEYLOFT_TEST_REDIS_URL", DEFAULT_REDIS)
    workdir: Path = tmp_path_factory.mktemp("nodes")
    with deployment(scale_database, redis_url, workdir) as running:
        yield running


@pytest.fixture
async def clients(nodes: Deployment) -> AsyncIterator[list[httpx.AsyncClient]]:
    user, password = nodes.admin
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    made = [
        httpx.AsyncClient(base_url=node.url, headers={"Authorization": f"Basic {auth}"}, timeout=30)
        for node in nodes.nodes
    ]
    yield made
    for client in made:
        await client.aclose()


def body(nodes: Deployment, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": "scale-out",
        "expirationTokenTime": 600,
        "defaultTillId": nodes.till_id,
        "scopes": [{"entityId": 2, "permission": "READWRITE", "resources": []}],
    }


async def test_create_on_one_node_read_on_the_other(
    nodes: Deployment, clients: list[httpx.AsyncClient]
) -> None:
    a, b = clients
    created = await a.post("/v3/integrations/clients", json=body(nodes, "made-on-a"))
    assert created.status_code == 200, created.text
    key = created.json()["data"]["clientKey"]
    read = await b.get(f"/v3/integrations/clients/{key}")
    assert read.status_code == 200
    assert read.json()["data"]["name"] == "made-on-a"
    assert read.headers["etag"] == created.headers["etag"]
    await a.delete(f"/v3/integrations/clients/{key}")


async def test_delete_on_one_node_revokes_tokens_on_the_other_within_a_second(
    nodes: Deployment, clients: list[httpx.AsyncClient]
) -> None:
    a, b = clients
    created = (await a.post("/v3/integrations/clients", json=body(nodes, "revoked"))).json()
    data = created["data"]
    minted = await b.post(
        "/v3/oauth/token/generate", json={"key": data["clientKey"], "secret": data["clientSecret"]}
    )
    token = minted.json()["data"]["accessToken"]
    use = {"X-CAP-API-OAUTH-TOKEN": token, "Authorization": ""}
    for _ in range(3):  # warm B's cache: the token is honoured from memory now
        warm = await b.get("/v3/integrations/scopes", headers=use)
        assert warm.status_code == 200

    deleted = await a.delete(f"/v3/integrations/clients/{data['clientKey']}")
    assert deleted.status_code == 200
    acknowledged = time.monotonic()
    while True:
        answer = await b.get("/v3/integrations/scopes", headers=use)
        if answer.status_code == 401:
            break
        assert answer.status_code == 200
        assert time.monotonic() - acknowledged < 1.0, "B still honours the token after 1 s"
    assert time.monotonic() - acknowledged < 1.0
    again = await b.post(
        "/v3/oauth/token/generate", json={"key": data["clientKey"], "secret": data["clientSecret"]}
    )
    assert again.status_code == 401


async def test_client_limit_holds_across_nodes(
    nodes: Deployment, clients: list[httpx.AsyncClient]
) -> None:
    listed = await clients[0].get("/v3/integrations/clients")
    for existing in listed.json()["data"]:
        await clients[0].delete(f"/v3/integrations/clients/{existing['clientKey']}")
    answers = await asyncio.gather(
        *(
            clients[n % 2].post("/v3/integrations/clients", json=body(nodes, f"limit-{n}"))
            for n in range(30)
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 15 + [409] * 15
    assert {a.json()["errors"][0]["code"] for a in answers if a.status_code == 409} == {4092}
    for client in clients:
        listed = await client.get("/v3/integrations/clients")
        assert len(listed.json()["data"]) == 15

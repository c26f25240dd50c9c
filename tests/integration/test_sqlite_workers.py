"""`keyloft serve --workers 2` on SQLite without Redis: the client cache is on in each worker
process, and a change made through either worker takes effect on the other.

Every request below opens a new connection, so the kernel hands it to either worker; the
caches of both are warmed before the change, then the change is made once, and then many
requests in a row, answered by both workers, must all see it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.nodes import Deployment, deployment

TOKEN = "/v3/oauth/token/generate"
CHECK = "/v3/oauth/check"
CLIENTS = "/v3/integrations/clients"
REQUESTS = 40
WITHIN = 5.0


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Deployment]:
    with deployment(
        f"sqlite:///{tmp_path}/keyloft.db", None, tmp_path, nodes=1, workers=2
    ) as deployed:
        yield deployed


def fresh(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request on a connection of its own."""
    with httpx.Client(timeout=10) as client:
        return client.request(method, url, **kwargs)


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WITHIN} s: {what}")
        time.sleep(0.01)


def test_changes_through_one_worker_show_on_every_worker(workers: Deployment) -> None:
    url = workers.nodes[0].url
    admin = workers.admin
    body = {
        "name": "sync",
        "description": "orders",
        "expirationTokenTime": 600,
        "defaultTillId": workers.till_id,
        "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
    }
    created = fresh("POST", f"{url}{CLIENTS}", json=body, auth=admin)
    assert created.status_code == 200, created.text
    key = created.json()["data"]["clientKey"]
    secret = created.json()["data"]["clientSecret"]
    credentials = {"key": key, "secret": secret}

    def mint() -> httpx.Response:
        return fresh("POST", f"{url}{TOKEN}", json=credentials)

    warm = [mint() for _ in range(REQUESTS)]
    assert {response.status_code for response in warm} == {200}
    assert {response.json()["data"]["ttlSeconds"] for response in warm} == {600}
    token = warm[0].json()["data"]["accessToken"]

    def decision() -> bool:
        call = {"token": token, "method": "GET", "path": "/v3/anything/1"}
        response = fresh("POST", f"{url}{CHECK}", json=call)
        assert response.status_code == 200, response.text
        return bool(response.json()["data"]["allowed"])

    assert all(decision() for _ in range(REQUESTS))

    changed = fresh(
        "PUT", f"{url}{CLIENTS}/{key}", json={**body, "expirationTokenTime": 120}, auth=admin
    )
    assert changed.status_code == 200, changed.text
    until(lambda: mint().json()["data"]["ttlSeconds"] == 120, "the new token lifetime")
    assert {mint().json()["data"]["ttlSeconds"] for _ in range(REQUESTS)} == {120}

    deleted = fresh("DELETE", f"{url}{CLIENTS}/{key}", auth=admin)
    assert deleted.status_code == 200, deleted.text
    until(lambda: mint().status_code == 401, "the deleted client refused")
    # After ten refusals per worker the failed-attempt limit answers 429 instead.
    assert {mint().status_code for _ in range(REQUESTS)} <= {401, 429}
    assert not any(decision() for _ in range(REQUESTS))

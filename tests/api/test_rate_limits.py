"""Failed authentications are limited per client key, per login and per source address (429).

Each test builds its own node with small limits (3 per subject, 5 per address, 60 s window),
so the counters start empty and the numbers in the assertions are exact.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture, basic, create_client

TOKEN = "/v3/oauth/token/generate"
SCOPES = "/v3/integrations/scopes"
SUBJECT_LIMIT = 3
ADDRESS_LIMIT = 5
WINDOW = 60
PEER = ("127.0.0.1", 5555)

Node = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def node(settings: Settings, database: Database) -> AsyncIterator[Node]:
    """Start a node with small limits (keyword arguments override settings); stopped after."""
    stack: list[tuple[httpx.AsyncClient, Runtime]] = []

    async def start(**overrides: Any) -> httpx.AsyncClient:
        limited = settings.model_copy(
            update={
                "auth_failure_limit": SUBJECT_LIMIT,
                "auth_failure_ip_limit": ADDRESS_LIMIT,
                "auth_failure_window_seconds": WINDOW,
                **overrides,
            }
        )
        rt = await build_runtime(limited, database=database)
        transport = httpx.ASGITransport(app=create_app(runtime=rt), client=PEER)
        client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        stack.append((client, rt))
        return client

    yield start
    for client, rt in stack:
        await client.aclose()
        await rt.stop()  # the database fixture disposes the engine itself


async def token_call(
    http: httpx.AsyncClient, key: str, secret: str, forwarded: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return await http.post(TOKEN, json={"key": key, "secret": secret}, headers=headers)


def random_key() -> str:
    return "k" + secrets.token_hex(12)


def assert_refused(response: httpx.Response, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert response.json()["data"] is None


def assert_too_many(response: httpx.Response) -> int:
    """A 429 envelope with code 4290 whose ``retryAfter`` matches ``Retry-After``."""
    assert response.status_code == 429, response.text
    payload = response.json()
    assert payload["data"] is None
    (entry,) = payload["errors"]
    assert entry["code"] == 4290
    wait = entry["retryAfter"]
    assert isinstance(wait, int)
    assert not isinstance(wait, bool)
    assert 0 < wait <= WINDOW
    assert response.headers["Retry-After"] == str(wait)
    return wait


async def test_client_key_locked_after_limit_even_with_right_secret(
    node: Node, org: OrgFixture
) -> None:
    http = await node()
    created = await create_client(http, org)
    key, secret = created["clientKey"], created["clientSecret"]
    for _ in range(SUBJECT_LIMIT):
        assert_refused(await token_call(http, key, "wrong-" + secret))
    assert_too_many(await token_call(http, key, secret))
    assert_too_many(await token_call(http, key, "wrong-" + secret))


async def test_other_client_key_from_same_address_until_address_limit(
    node: Node, org: OrgFixture
) -> None:
    http = await node()
    first = await create_client(http, org, name="first")
    second = await create_client(http, org, name="second")
    third = await create_client(http, org, name="third")
    for _ in range(SUBJECT_LIMIT):
        assert_refused(await token_call(http, first["clientKey"], "nope"))
    assert_too_many(await token_call(http, first["clientKey"], first["clientSecret"]))

    ok = await token_call(http, second["clientKey"], second["clientSecret"])
    assert ok.status_code == 200, ok.text
    for _ in range(ADDRESS_LIMIT - SUBJECT_LIMIT):
        assert_refused(await token_call(http, second["clientKey"], "nope"))
    # second has only 2 failures of its own: this 429 is the address's limit.
    assert_too_many(await token_call(http, second["clientKey"], second["clientSecret"]))
    assert_too_many(await token_call(http, third["clientKey"], third["clientSecret"]))
    assert_too_many(await http.get(SCOPES, headers=org.auth))


async def test_unknown_client_keys_count_against_the_address(node: Node, org: OrgFixture) -> None:
    http = await node()
    created = await create_client(http, org)
    for _ in range(ADDRESS_LIMIT):
        assert_refused(await token_call(http, random_key(), "anything"))
    assert_too_many(await token_call(http, created["clientKey"], created["clientSecret"]))


async def test_successful_attempts_are_not_counted(node: Node, org: OrgFixture) -> None:
    http = await node()
    created = await create_client(http, org)
    key, secret = created["clientKey"], created["clientSecret"]
    for _ in range(ADDRESS_LIMIT + SUBJECT_LIMIT):
        response = await token_call(http, key, secret)
        assert response.status_code == 200, response.text
    for _ in range(SUBJECT_LIMIT - 1):
        assert_refused(await token_call(http, key, "nope"))
    still = await token_call(http, key, secret)
    assert still.status_code == 200, still.text
    assert_refused(await token_call(http, key, "nope"))
    assert_too_many(await token_call(http, key, secret))


async def test_basic_login_locked_after_limit(node: Node, org: OrgFixture) -> None:
    http = await node()
    till = org.tills[0]
    fine = await http.get(SCOPES, headers=till.headers)
    assert fine.status_code == 200, fine.text
    for _ in range(SUBJECT_LIMIT):
        assert_refused(await http.get(SCOPES, headers=basic(till.code, "wrong-password")))
    # The right password is refused too, even though this node remembers it as verified.
    assert_too_many(await http.get(SCOPES, headers=till.headers))
    assert_too_many(await http.get(SCOPES, headers=basic(till.code, "wrong-password")))

    other = await http.get(SCOPES, headers=org.tills[1].headers)
    assert other.status_code == 200, other.text
    admin = await http.get(SCOPES, headers=org.auth)
    assert admin.status_code == 200, admin.text


async def test_login_and_client_key_counters_are_separate(node: Node, org: OrgFixture) -> None:
    """Login and client-key counters are separate subjects: a locked login leaves a client
    key with the same name alone (until the address limit)."""
    http = await node()
    created = await create_client(http, org)
    key = created["clientKey"]
    for _ in range(SUBJECT_LIMIT):
        assert_refused(await http.get(SCOPES, headers=basic(key, "wrong")))
    assert_too_many(await http.get(SCOPES, headers=basic(key, "wrong")))
    ok = await token_call(http, key, created["clientSecret"])
    assert ok.status_code == 200, ok.text


async def test_unknown_usernames_count(node: Node, org: OrgFixture) -> None:
    http = await node()
    ghost = "ghost-" + secrets.token_hex(6)
    for _ in range(SUBJECT_LIMIT):
        assert_refused(await http.get(SCOPES, headers=basic(ghost, "whatever")))
    assert_too_many(await http.get(SCOPES, headers=basic(ghost, "whatever")))
    admin = await http.get(SCOPES, headers=org.auth)
    assert admin.status_code == 200, admin.text
    # Two more unknown names reach the address limit of 5: now everyone from here waits.
    for _ in range(ADDRESS_LIMIT - SUBJECT_LIMIT):
        assert_refused(await http.get(SCOPES, headers=basic(f"x{secrets.token_hex(4)}", "y")))
    assert_too_many(await http.get(SCOPES, headers=org.auth))


async def test_forwarded_for_is_ignored_without_trusted_proxies(
    node: Node, org: OrgFixture
) -> None:
    http = await node()
    created = await create_client(http, org)
    for n in range(ADDRESS_LIMIT):
        assert_refused(await token_call(http, random_key(), "x", forwarded=f"203.0.113.{n + 1}"))
    for forwarded in ("198.51.100.9", "203.0.113.77", None):
        assert_too_many(
            await token_call(http, created["clientKey"], created["clientSecret"], forwarded)
        )


async def test_forwarded_for_names_the_address_behind_a_trusted_proxy(
    node: Node, org: OrgFixture
) -> None:
    http = await node(trusted_proxies="127.0.0.1")
    created = await create_client(http, org)
    key, secret = created["clientKey"], created["clientSecret"]
    for _ in range(ADDRESS_LIMIT):
        assert_refused(await token_call(http, random_key(), "x", forwarded="203.0.113.1"))
    assert_too_many(await token_call(http, key, secret, forwarded="203.0.113.1"))
    # A client-supplied hop left of the real address does not make it someone else.
    assert_too_many(await token_call(http, key, secret, forwarded="198.51.100.1, 203.0.113.1"))
    for forwarded in ("203.0.113.2", None):
        response = await token_call(http, key, secret, forwarded=forwarded)
        assert response.status_code == 200, response.text
    admin = await http.get(SCOPES, headers=org.auth | {"X-Forwarded-For": "203.0.113.2"})
    assert admin.status_code == 200, admin.text
    assert_too_many(await http.get(SCOPES, headers=org.auth | {"X-Forwarded-For": "203.0.113.1"}))


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(node: Node, org: OrgFixture) -> None:
    http = await node(trusted_proxies="10.0.0.0/8")
    created = await create_client(http, org)
    for n in range(ADDRESS_LIMIT):
        assert_refused(await token_call(http, random_key(), "x", forwarded=f"203.0.113.{n + 1}"))
    assert_too_many(
        await token_call(http, created["clientKey"], created["clientSecret"], "198.51.100.4")
    )


async def test_a_concurrent_burst_of_guesses_gets_no_more_than_the_limit(
    node: Node, org: OrgFixture
) -> None:
    http = await node(auth_failure_ip_limit=1000)
    burst = 3 * SUBJECT_LIMIT
    guesses = await asyncio.gather(
        *(http.get(SCOPES, headers=basic(org.admin.code, f"guess-{n}")) for n in range(burst))
    )
    statuses = Counter(response.status_code for response in guesses)
    assert statuses[401] <= SUBJECT_LIMIT, statuses
    assert statuses[429] >= burst - SUBJECT_LIMIT, statuses

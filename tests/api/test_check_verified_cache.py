"""The node's cache of verified tokens changes nothing but speed: with it on (the second call
is a hit) and off, a revoked token, a deleted client's token, a narrowed client's token, a
token that expired while cached and a token whose key is no longer published are refused at
once, at the decision point and on the token-authenticated API."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from keyloft.domain.signing import KeyRing, SigningKey
from keyloft.domain.tokens import grants_from_claims
from keyloft.runtime import Runtime
from keyloft.services.verified_tokens import VerifiedToken, VerifiedTokens
from tests.support.api import ISSUER, OrgFixture, client_basic, create_client, mint, oauth_token
from tests.support.keys import kid as kid_of
from tests.support.keys import rotate

CHECK = "/v3/oauth/check"
CLIENTS = "/v3/integrations/clients"
ALLOWED = "/v3/targetGroups/7"


def grant(entity: int, permission: str) -> dict[str, Any]:
    return {"entityId": entity, "permission": permission, "resources": []}


@pytest.fixture(params=["cached", "uncached"])
def cached(request: pytest.FixtureRequest, runtime: Runtime) -> bool:
    if request.param == "uncached":
        runtime.verified_tokens = VerifiedTokens(max_entries=0)
    return bool(request.param == "cached")


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(http, org, scopes=[grant(1, "READ"), grant(2, "READ")])


async def token_of(http: httpx.AsyncClient, client: dict[str, Any], kind: str) -> str:
    if kind == "oauth":
        return await oauth_token(http, client)
    return await mint(http, client["clientKey"], client["clientSecret"])


async def decision(http: httpx.AsyncClient, token: str, path: str = ALLOWED) -> tuple[bool, str]:
    answer = await http.post(CHECK, json={"token": token, "method": "GET", "path": path})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    return data["allowed"], data["reason"]


async def api_status(http: httpx.AsyncClient, token: str) -> int:
    return (await http.get(CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token})).status_code


async def allowed_twice(
    http: httpx.AsyncClient, runtime: Runtime, token: str, cached: bool
) -> None:
    """Allowed on the first call (a miss) and on the second (a hit when cached)."""
    hits = runtime.verified_tokens.hits
    assert (await decision(http, token))[0] is True
    assert await api_status(http, token) == 200
    assert (await decision(http, token))[0] is True
    assert runtime.verified_tokens.hits - hits == (2 if cached else 0)


@pytest.mark.parametrize("kind", ["v3", "oauth"])
async def test_a_revoked_token_is_refused_even_when_cached(
    http: httpx.AsyncClient, runtime: Runtime, client: dict[str, Any], cached: bool, kind: str
) -> None:
    token = await token_of(http, client, kind)
    await allowed_twice(http, runtime, token, cached)
    answer = await http.post(
        "/oauth2/revoke",
        data={"token": token},
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )
    assert answer.status_code == 200
    assert await decision(http, token) == (False, "invalid_token")
    assert await api_status(http, token) == 401


@pytest.mark.parametrize("kind", ["v3", "oauth"])
async def test_a_deleted_clients_token_is_refused_even_when_cached(
    http: httpx.AsyncClient,
    runtime: Runtime,
    org: OrgFixture,
    client: dict[str, Any],
    cached: bool,
    kind: str,
) -> None:
    token = await token_of(http, client, kind)
    await allowed_twice(http, runtime, token, cached)
    deleted = await http.delete(f"{CLIENTS}/{client['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200, deleted.text
    assert await decision(http, token) == (False, "invalid_token")
    assert await api_status(http, token) == 401


async def test_a_narrowed_clients_token_is_narrowed_even_when_cached(
    http: httpx.AsyncClient,
    runtime: Runtime,
    org: OrgFixture,
    client: dict[str, Any],
    cached: bool,
) -> None:
    token = await mint(http, client["clientKey"], client["clientSecret"])
    await allowed_twice(http, runtime, token, cached)
    narrowed = await http.put(
        f"{CLIENTS}/{client['clientKey']}",
        json={
            "expirationTokenTime": client["expirationTokenTime"],
            "defaultTillId": client["defaultTillId"],
            "scopes": [grant(3, "READ")],
        },
        headers=org.auth,
    )
    assert narrowed.status_code == 200, narrowed.text
    allowed, _ = await decision(http, token)
    assert allowed is False
    assert await api_status(http, token) == 403


def _resigned(token: str, key: SigningKey, **changes: Any) -> str:
    claims = jwt.decode(token, options={"verify_signature": False}) | changes
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


async def test_a_token_that_expired_while_cached_is_refused(
    http: httpx.AsyncClient,
    runtime: Runtime,
    client: dict[str, Any],
    signing_key: SigningKey,
    cached: bool,
) -> None:
    now = int(time.time())
    real = await mint(http, client["clientKey"], client["clientSecret"])
    expired = _resigned(real, signing_key, iat=now - 700, exp=now - 100)
    claims = jwt.decode(expired, options={"verify_signature": False})
    if cached:  # as it was remembered while it was still valid
        remembered = VerifiedToken(
            "JWT", signing_key.kid, claims, grants_from_claims(claims), ISSUER, ISSUER
        )
        runtime.verified_tokens.put(VerifiedTokens.digest(expired), remembered)
    assert await decision(http, expired) == (False, "invalid_token")
    assert await api_status(http, expired) == 401
    # The control: the same token with an unexpired exp is accepted.
    await allowed_twice(http, runtime, _resigned(real, signing_key, jti="control"), cached)


async def test_a_token_whose_key_is_unpublished_is_refused_even_when_cached(
    http: httpx.AsyncClient, runtime: Runtime, client: dict[str, Any], cached: bool
) -> None:
    before = await mint(http, client["clientKey"], client["clientSecret"])
    await allowed_twice(http, runtime, before, cached)
    new = await rotate(runtime, 0.0)
    await runtime.refresh()
    after = await mint(http, client["clientKey"], client["clientSecret"])
    await allowed_twice(http, runtime, after, cached)

    assert kid_of(after) == new.kid != kid_of(before)
    # The ring as it is once the old key's publication has ended (its tokens long expired
    # on a real clock; here they are still unexpired, so only the kid can refuse them).
    runtime.key_ring = KeyRing(
        [key for key in runtime.key_ring.keys if key.kid != kid_of(before)],
        clock=runtime.now,
    )
    assert await decision(http, before) == (False, "invalid_token")
    assert await api_status(http, before) == 401
    assert (await decision(http, after))[0] is True


async def test_a_token_for_another_issuer_is_not_taken_from_the_cache(
    http: httpx.AsyncClient, runtime: Runtime, client: dict[str, Any], cached: bool
) -> None:
    token = await mint(http, client["clientKey"], client["clientSecret"])
    claims = jwt.decode(token, options={"verify_signature": False})
    digest = VerifiedTokens.digest(token)
    found = runtime.verified_tokens.get(digest, issuer=ISSUER, audience=ISSUER)
    assert found is None
    assert (await decision(http, token))[0] is True
    found = runtime.verified_tokens.get(digest, issuer=ISSUER, audience=ISSUER)
    assert (found is not None) is cached
    if found is not None:
        assert found.claims == claims
        assert runtime.verified_tokens.get(digest, issuer="https://other", audience=ISSUER) is None

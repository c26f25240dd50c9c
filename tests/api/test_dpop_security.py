"""DPoP (RFC 9449) refusals on a deployment of two nodes, each answered the same way whatever
the reason, with nothing in the body or headers that says which check failed: a proof replayed
on the other node (at the token endpoint and at the decision point), ``htu`` naming another
host, port, path or scheme (a query is ignored, as §4.3 says), ``iat`` far in the past or the
future, a proof signed with one key carrying the ``jwk`` of another, an ``HS256`` proof, a
50 KB proof; and with nonces required, a nonce of the other node accepted and an expired one
refused with a fresh nonce."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from keyloft.config import Settings
from keyloft.domain.dpop import token_hash
from keyloft.runtime import Runtime
from keyloft.storage.store import Database
from tests.api.test_dpop import ALL_READ, TOKEN_URL, Holder
from tests.support.api import ISSUER, client_basic, create_client, make_org
from tests.support.two_nodes import Nodes, two_nodes

CALL = "https://api.example.test/v3/customers/1"
CHECK = {"method": "GET", "path": "/v3/customers/1"}
FORM = {"grant_type": "client_credentials"}
REFUSED = {"error": "invalid_dpop_proof", "error_description": "The DPoP proof is invalid."}
VARIANTS = [
    pytest.param("store", id="store"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=VARIANTS)
async def pair(
    request: pytest.FixtureRequest, settings: Settings, database: Database
) -> AsyncIterator[tuple[Nodes, list[Runtime]]]:
    async with two_nodes(settings, request.param) as made:
        yield made


@pytest.fixture(params=VARIANTS)
async def nonce_pair(
    request: pytest.FixtureRequest, settings: Settings, database: Database
) -> AsyncIterator[tuple[Nodes, list[Runtime]]]:
    required = settings.model_copy(update={"dpop_nonce": "required"})
    async with two_nodes(required, request.param) as made:
        yield made


async def _client(node: httpx.AsyncClient, database: Database) -> dict[str, str]:
    org = await make_org(database, f"DPoP {uuid.uuid4().hex[:8]}")
    client = await create_client(node, org, scopes=ALL_READ)
    return client_basic(client["clientKey"], client["clientSecret"])


async def _mint(node: httpx.AsyncClient, auth: dict[str, str], proof: str) -> httpx.Response:
    return await node.post("/oauth2/token", data=FORM, headers=auth | {"DPoP": proof})


def _assert_refused_alike(answer: httpx.Response) -> None:
    """The one refusal of a bad proof at a token endpoint: nothing about why."""
    assert answer.status_code == 400, answer.text
    assert answer.json() == REFUSED
    assert "dpop-nonce" not in answer.headers
    assert "www-authenticate" not in answer.headers


async def test_a_proof_used_on_one_node_is_refused_on_the_other(
    pair: tuple[Nodes, list[Runtime]], database: Database
) -> None:
    (node_a, node_b), _ = pair
    auth = await _client(node_a, database)
    holder = Holder()
    proof = holder.proof("POST", TOKEN_URL)
    first = await _mint(node_a, auth, proof)
    assert first.status_code == 200, first.text
    _assert_refused_alike(await _mint(node_b, auth, proof))
    _assert_refused_alike(await _mint(node_a, auth, proof))

    token = first.json()["access_token"]
    call_proof = holder.proof("GET", CALL, ath=token_hash(token))
    body = CHECK | {"token": token, "tokenType": "DPoP", "dpop": call_proof, "url": CALL}
    allowed = (await node_b.post("/v3/oauth/check", json=body)).json()["data"]
    assert allowed["allowed"] is True
    replayed = (await node_a.post("/v3/oauth/check", json=body)).json()["data"]
    assert (replayed["allowed"], replayed["reason"]) == (False, "invalid_dpop_proof")
    assert set(replayed) == {"allowed", "reason", "clientKey", "orgId", "tillId"}
    assert (replayed["clientKey"], replayed["orgId"], replayed["tillId"]) == (None, None, None)


def _sign(header: dict[str, Any], claims: dict[str, Any], key: Any, algorithm: str) -> str:
    return jwt.encode(claims, key, algorithm, headers=header)


def _claims(**more: Any) -> dict[str, Any]:
    base = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": TOKEN_URL, "iat": int(time.time())}
    return base | more


def _padded(holder: Holder, size: int) -> str:
    return holder.proof("POST", TOKEN_URL, pad="x" * size)


BAD_PROOFS = [
    pytest.param(lambda h: h.proof("POST", "https://evil.example/oauth2/token"), id="other-host"),
    pytest.param(lambda h: h.proof("POST", ISSUER + ":8443/oauth2/token"), id="other-port"),
    pytest.param(lambda h: h.proof("POST", ISSUER + "/oauth2/revoke"), id="other-path"),
    pytest.param(
        lambda h: h.proof("POST", TOKEN_URL.replace("http://", "https://", 1)), id="other-scheme"
    ),
    pytest.param(lambda h: h.proof("GET", TOKEN_URL), id="other-method"),
    pytest.param(
        lambda h: h.proof("POST", TOKEN_URL, iat=int(time.time()) - 86_400), id="iat-a-day-ago"
    ),
    pytest.param(
        lambda h: h.proof("POST", TOKEN_URL, iat=int(time.time()) + 86_400), id="iat-a-day-ahead"
    ),
    pytest.param(
        # Signed by this key, carrying another key's jwk: the signature is checked against the
        # jwk the proof carries, so it is not this key's proof.
        lambda h: _sign({"typ": "dpop+jwt", "jwk": Holder().jwk}, _claims(), h.key, "ES256"),
        id="jwk-of-another-key",
    ),
    pytest.param(
        lambda h: _sign({"typ": "dpop+jwt", "jwk": h.jwk}, _claims(), "k" * 32, "HS256"),
        id="hs256",
    ),
    pytest.param(
        lambda h: _sign(
            {
                "typ": "dpop+jwt",
                "jwk": {"kty": "oct", "k": base64.urlsafe_b64encode(b"k" * 32).decode()},
            },
            _claims(),
            "k" * 32,
            "HS256",
        ),
        id="hs256-with-a-symmetric-jwk",
    ),
    pytest.param(lambda h: _padded(h, 50 * 1024), id="50-kb"),
    pytest.param(
        lambda h: h.proof("POST", TOKEN_URL) + ", " + h.proof("POST", TOKEN_URL), id="two"
    ),
]


@pytest.mark.parametrize("made", BAD_PROOFS)
async def test_bad_proofs_at_the_token_endpoint_are_refused_alike(
    pair: tuple[Nodes, list[Runtime]], database: Database, made: Any
) -> None:
    (node_a, _), _ = pair
    auth = await _client(node_a, database)
    holder = Holder()
    _assert_refused_alike(await _mint(node_a, auth, made(holder)))
    # The client and the key are still good: the refusal was the proof's alone.
    assert (await _mint(node_a, auth, holder.proof("POST", TOKEN_URL))).status_code == 200


async def test_a_query_or_fragment_in_htu_is_ignored(
    pair: tuple[Nodes, list[Runtime]], database: Database
) -> None:
    (node_a, _), _ = pair
    auth = await _client(node_a, database)
    holder = Holder()
    answer = await _mint(node_a, auth, holder.proof("POST", TOKEN_URL + "?x=1#f"))
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("made", BAD_PROOFS[:10])
async def test_bad_proofs_at_the_decision_point_are_refused_alike(
    pair: tuple[Nodes, list[Runtime]], database: Database, made: Any
) -> None:
    """The same proofs, made for the call (``htm`` GET, ``htu`` the call's URL, ``ath``)."""
    (node_a, node_b), _ = pair
    auth = await _client(node_a, database)
    holder = Holder()
    token = (await _mint(node_a, auth, holder.proof("POST", TOKEN_URL))).json()["access_token"]

    class ForTheCall(Holder):
        def __init__(self) -> None:
            self.key, self.jwk, self.jkt = holder.key, holder.jwk, holder.jkt

        def proof(self, method: str, url: str, **claims: Any) -> str:
            target = CALL if url == TOKEN_URL else url.replace(ISSUER, "https://api.example.test")
            verb = "GET" if method == "POST" else "POST"
            return holder.proof(verb, target, **({"ath": token_hash(token)} | claims))

    proof = made(ForTheCall())
    forwarded = {
        "Authorization": f"DPoP {token}",
        "DPoP": proof,
        "X-Original-Method": "GET",
        "X-Original-URI": CHECK["path"],
        "X-Original-URL": CALL,
    }
    refused = await node_b.get("/v3/oauth/check", headers=forwarded)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith('DPoP realm="keyloft", error="invalid_dpop_proof"'), challenge
    assert "x-keyloft-client-key" not in refused.headers
    assert "dpop-nonce" not in refused.headers
    body = CHECK | {"token": token, "tokenType": "DPoP", "dpop": proof, "url": CALL}
    decided = (await node_b.post("/v3/oauth/check", json=body)).json()["data"]
    assert decided["allowed"] is False
    assert decided["reason"] == "invalid_dpop_proof"
    assert decided["clientKey"] is None


async def test_a_nonce_of_the_other_node_is_good_and_an_expired_one_is_not(
    nonce_pair: tuple[Nodes, list[Runtime]], database: Database
) -> None:
    (node_a, node_b), runtimes = nonce_pair
    auth = await _client(node_a, database)
    holder = Holder()
    asked = await _mint(node_a, auth, holder.proof("POST", TOKEN_URL))
    assert asked.status_code == 400
    assert asked.json()["error"] == "use_dpop_nonce"
    nonce = asked.headers["DPoP-Nonce"]
    on_b = await _mint(node_b, auth, holder.proof("POST", TOKEN_URL, nonce=nonce))
    assert on_b.status_code == 200, on_b.text

    # A nonce of the same deployment from 11 minutes ago: past the current and previous window.
    nonces = runtimes[1].dpop_nonces
    assert nonces is not None
    expired = nonces.issue(time.time() - 660)
    assert expired != nonce
    stale = await _mint(node_b, auth, holder.proof("POST", TOKEN_URL, nonce=expired))
    assert stale.status_code == 400
    assert stale.json()["error"] == "use_dpop_nonce"
    fresh = stale.headers["DPoP-Nonce"]
    assert fresh != expired
    again = await _mint(node_a, auth, holder.proof("POST", TOKEN_URL, nonce=fresh))
    assert again.status_code == 200, again.text
    # Made up, or another deployment's (another server secret): not a nonce at all.
    forged = nonce[:-4] + ("AAAA" if not nonce.endswith("AAAA") else "BBBB")
    wrong = await _mint(node_a, auth, holder.proof("POST", TOKEN_URL, nonce=forged))
    assert wrong.json()["error"] == "use_dpop_nonce"
    assert json.dumps(wrong.json()).count("nonce") <= 2  # error and description, nothing more

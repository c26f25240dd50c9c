"""KeyloftMiddleware with DPoP: a bound token passes with its proof for this request's public
URL; everything else is 401 with a DPoP challenge naming only the error; the public origin
decides what ``htu`` must be."""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from keyloft.domain.dpop import MAX_AGE, PROOF_ALGORITHMS
from keyloft.domain.signing import SigningKey
from keyloft.resource import KeyloftMiddleware, ReplayUnavailable, TokenVerifier, VerifiedToken
from tests.resource.dpop_support import (
    JKT,
    OTHER_JWK,
    OTHER_KEY,
    PUBLIC_URL,
    bound_token,
    proof,
)
from tests.support.resource import AUDIENCE, ISSUER, JWKS_URL, FakeJwks, call, oauth_token

GRANTS = [{"entityId": 2, "permission": "READ", "resources": []}]  # All: read
PATH = "/v2/customers"
URL = PUBLIC_URL + PATH
ALGS = " ".join(PROOF_ALGORITHMS)
INVALID_TOKEN = f'DPoP realm="keyloft", error="invalid_token", algs="{ALGS}"'
INVALID_PROOF = f'DPoP realm="keyloft", error="invalid_dpop_proof", algs="{ALGS}"'
INVALID_ENVELOPE = {
    "data": None,
    "errors": [{"code": 3003, "message": "The access token is invalid, expired or revoked."}],
}


class Upstream:
    """The protected app: counts the calls that reach it and keeps their scopes."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"upstream"})


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def guarded(upstream: Upstream, verifier: TokenVerifier) -> KeyloftMiddleware:
    return KeyloftMiddleware(upstream, verifier, public_url=PUBLIC_URL)


@pytest.fixture
def token(signing_key: SigningKey) -> str:
    return bound_token(signing_key, scopes=GRANTS)


def _dpop(token: str, *proofs: str) -> list[tuple[str, str]]:
    return [("Authorization", f"DPoP {token}"), *(("DPoP", value) for value in proofs)]


def test_the_algorithms_offered_are_those_proofs_may_use() -> None:
    assert re.fullmatch(r"[A-Za-z0-9]+( [A-Za-z0-9]+)*", ALGS)
    assert {"ES256", "RS256", "EdDSA"} <= set(ALGS.split())


async def test_a_bound_token_with_its_proof_passes(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str
) -> None:
    answer, _ = await call(guarded, "GET", PATH, _dpop(token, proof(token)))
    assert answer.status == 200
    assert answer.body == b"upstream"
    verified: VerifiedToken = upstream.scopes[0]["state"]["keyloft"]
    assert verified.jkt == JKT


async def test_the_query_string_is_not_part_of_htu(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str
) -> None:
    answer, _ = await call(guarded, "GET", f"{PATH}?page=2", _dpop(token, proof(token)))
    assert answer.status == 200


async def test_the_scheme_is_case_insensitive(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str
) -> None:
    headers = [("Authorization", f"dpop {token}"), ("DPoP", proof(token))]
    answer, _ = await call(guarded, "GET", PATH, headers)
    assert answer.status == 200


@pytest.mark.parametrize("header", ["Authorization", "X-CAP-API-OAUTH-TOKEN"])
async def test_a_bound_token_as_a_bearer_token_gets_a_dpop_challenge(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str, header: str
) -> None:
    value = f"Bearer {token}" if header == "Authorization" else token
    answer, _ = await call(guarded, "GET", PATH, [(header, value), ("DPoP", proof(token))])
    assert answer.status == 401
    assert answer.json() == INVALID_ENVELOPE
    assert answer.headers["www-authenticate"] == INVALID_TOKEN
    assert answer.headers["cache-control"] == "no-store"
    assert upstream.scopes == []


@pytest.mark.parametrize(
    ("made", "challenge"),
    [
        pytest.param(lambda token: [], INVALID_PROOF, id="no-proof"),
        pytest.param(lambda token: [proof(token), proof(token)], INVALID_PROOF, id="two-proofs"),
        pytest.param(lambda token: [proof(token, method="POST")], INVALID_PROOF, id="method"),
        pytest.param(lambda token: [proof(token, url=URL + "/1")], INVALID_PROOF, id="url"),
        pytest.param(
            lambda token: [proof(token, url="http://api.example" + PATH)], INVALID_PROOF, id="http"
        ),
        pytest.param(lambda token: [proof("other.access.token")], INVALID_PROOF, id="ath"),
        pytest.param(
            lambda token: [proof(token, iat=int(time.time()) - MAX_AGE - 1)],
            INVALID_PROOF,
            id="expired",
        ),
        pytest.param(
            lambda token: [proof(token, key=OTHER_KEY, jwk=OTHER_JWK)], INVALID_TOKEN, id="key"
        ),
    ],
)
async def test_a_proof_that_does_not_fit_is_401(
    guarded: KeyloftMiddleware,
    upstream: Upstream,
    token: str,
    made: Any,
    challenge: str,
) -> None:
    answer, _ = await call(guarded, "GET", PATH, _dpop(token, *made(token)))
    assert answer.status == 401
    assert answer.json() == INVALID_ENVELOPE
    assert answer.headers["www-authenticate"] == challenge
    assert upstream.scopes == []


async def test_a_replayed_proof_is_401(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str
) -> None:
    once = proof(token)
    first, _ = await call(guarded, "GET", PATH, _dpop(token, once))
    again, _ = await call(guarded, "GET", PATH, _dpop(token, once))
    assert (first.status, again.status) == (200, 401)
    assert again.headers["www-authenticate"] == INVALID_PROOF
    assert len(upstream.scopes) == 1


async def test_an_unbound_token_with_the_dpop_scheme_is_401(
    guarded: KeyloftMiddleware, upstream: Upstream, signing_key: SigningKey
) -> None:
    unbound = oauth_token(signing_key, scopes=GRANTS)
    answer, _ = await call(guarded, "GET", PATH, _dpop(unbound, proof(unbound)))
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == INVALID_TOKEN
    as_bearer, _ = await call(guarded, "GET", PATH, [("Authorization", f"Bearer {unbound}")])
    assert as_bearer.status == 200
    assert len(upstream.scopes) == 1


async def test_an_invalid_token_sent_as_dpop_gets_a_dpop_challenge(
    guarded: KeyloftMiddleware, upstream: Upstream
) -> None:
    answer, _ = await call(guarded, "GET", PATH, _dpop("a.b.c", proof("a.b.c")))
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == INVALID_TOKEN
    bearer, _ = await call(guarded, "GET", PATH, [("Authorization", "Bearer a.b.c")])
    assert bearer.headers["www-authenticate"] == 'Bearer realm="keyloft", error="invalid_token"'


async def test_scopes_that_do_not_allow_the_call_get_a_dpop_challenge(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str
) -> None:
    answer, _ = await call(guarded, "POST", PATH, _dpop(token, proof(token, method="POST")))
    assert answer.status == 403
    assert answer.json()["errors"][0]["code"] == 4000
    assert answer.headers["www-authenticate"] == (
        f'DPoP realm="keyloft", error="insufficient_scope", algs="{ALGS}"'
    )


async def test_one_token_under_both_schemes_is_400(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str
) -> None:
    headers = [*_dpop(token, proof(token)), ("X-CAP-API-OAUTH-TOKEN", token)]
    answer, _ = await call(guarded, "GET", PATH, headers)
    assert answer.status == 400
    assert answer.json()["errors"][0]["code"] == 1001
    assert answer.headers["www-authenticate"] == (
        f'DPoP realm="keyloft", error="invalid_request", algs="{ALGS}"'
    )
    assert upstream.scopes == []


async def test_the_reason_is_logged_at_debug_only(
    guarded: KeyloftMiddleware, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="keyloft.resource"):
        answer, _ = await call(guarded, "GET", PATH, _dpop(token, proof(token, method="PUT")))
    assert b"htm" not in answer.body
    assert "htm" not in answer.headers["www-authenticate"]
    assert [(r.levelno, r.getMessage().rsplit(": ", 1)[1]) for r in caplog.records] == [
        (logging.DEBUG, "dpop_htm")
    ]


async def test_a_replay_store_that_cannot_answer_is_503(
    jwks: FakeJwks, upstream: Upstream, token: str
) -> None:
    class Down:
        async def first_use(self, key: str, expires_at: datetime) -> bool:
            raise ReplayUnavailable("down")

    verifier = TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=jwks, dpop_replays=Down())
    guarded = KeyloftMiddleware(upstream, verifier, public_url=PUBLIC_URL)
    answer, _ = await call(guarded, "GET", PATH, _dpop(token, proof(token)))
    assert answer.status == 503
    assert answer.json()["errors"][0]["code"] == 5030
    assert answer.headers["retry-after"].isdigit()
    assert upstream.scopes == []


async def test_without_a_public_url_htu_is_the_url_the_request_names(
    verifier: TokenVerifier, upstream: Upstream, token: str
) -> None:
    guarded = KeyloftMiddleware(upstream, verifier)
    internal = [("Host", "pod-7.internal:8080")]
    # ``call`` makes plain-http requests to the server resource.test:80.
    for headers, url, status in [
        (internal, f"http://pod-7.internal:8080{PATH}", 200),
        (internal, URL, 401),
        ([], f"http://resource.test{PATH}", 200),
        ([], f"http://resource.test:80{PATH}", 200),
        ([], f"https://resource.test{PATH}", 401),
    ]:
        answer, _ = await call(
            guarded, "GET", PATH, [*headers, *_dpop(token, proof(token, url=url))]
        )
        assert answer.status == status, (headers, url)


async def test_a_public_url_decides_htu_whatever_the_host_header(
    verifier: TokenVerifier, upstream: Upstream, token: str
) -> None:
    internal = [("Host", "pod-7.internal:8080")]
    guarded = KeyloftMiddleware(upstream, verifier, public_url="https://API.example:443/")
    public, _ = await call(guarded, "GET", PATH, [*internal, *_dpop(token, proof(token))])
    named = proof(token, url=f"http://pod-7.internal:8080{PATH}")
    by_host, _ = await call(guarded, "GET", PATH, [*internal, *_dpop(token, named)])
    assert (public.status, by_host.status) == (200, 401)


async def test_a_public_url_may_carry_the_prefix_a_proxy_strips(
    verifier: TokenVerifier, upstream: Upstream, token: str
) -> None:
    guarded = KeyloftMiddleware(upstream, verifier, public_url=f"{PUBLIC_URL}/billing")
    prefixed, _ = await call(
        guarded, "GET", PATH, _dpop(token, proof(token, url=f"{PUBLIC_URL}/billing{PATH}"))
    )
    bare, _ = await call(guarded, "GET", PATH, _dpop(token, proof(token)))
    assert (prefixed.status, bare.status) == (200, 401)


@pytest.mark.parametrize(
    "url",
    [
        "api.example",
        "ftp://api.example",
        "https://",
        "https://api.example/?x=1",
        "https://api.example/?",
        "https://api.example/#top",
        "https://user:pw@api.example",
        "https://api.example:port",
    ],
)
def test_a_public_url_must_be_an_http_origin(
    verifier: TokenVerifier, upstream: Upstream, url: str
) -> None:
    with pytest.raises(ValueError, match="public_url"):
        KeyloftMiddleware(upstream, verifier, public_url=url)


async def test_a_websocket_handshake_is_proved_as_get(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str
) -> None:
    accepted, _ = await call(guarded, "GET", PATH, _dpop(token, proof(token)), kind="websocket")
    assert accepted.status == 101
    posted = proof(token, method="POST")
    refused, _ = await call(guarded, "GET", PATH, _dpop(token, posted), kind="websocket")
    assert refused.status == 403  # the handshake is closed with 1008
    assert len(upstream.scopes) == 1


async def test_starlette_with_the_default_url_from_the_host_header(
    verifier: TokenVerifier, token: str
) -> None:
    async def whoami(request: Request) -> JSONResponse:
        verified: VerifiedToken = request.state.keyloft
        return JSONResponse({"client": verified.client_key, "jkt": verified.jkt})

    app = Starlette(routes=[Route("/v2/whoami", whoami)])
    app.add_middleware(KeyloftMiddleware, verifier=verifier)
    transport = httpx.ASGITransport(app=app)
    url = "http://resource.test/v2/whoami"
    async with httpx.AsyncClient(transport=transport) as http:
        allowed = await http.get(
            url, headers={"Authorization": f"DPoP {token}", "DPoP": proof(token, url=url)}
        )
        refused = await http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200
    assert allowed.json()["jkt"] == JKT
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == INVALID_TOKEN

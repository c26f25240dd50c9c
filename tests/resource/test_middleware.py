"""KeyloftMiddleware: 401/403 in the v3 envelope, pass-through with the verified token in the
request state, exempt paths, and WebSockets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from keyloft.domain.scopes import ScopeEntity
from keyloft.domain.signing import SigningKey
from keyloft.resource import KeyloftMiddleware, TokenVerifier, VerifiedToken
from keyloft.resource.jwks import JwksUnavailable
from tests.support.resource import (
    AUDIENCE,
    CLIENT_KEY,
    ISSUER,
    JWKS_URL,
    call,
    oauth_token,
    v3_token,
)

GRANTS = [
    {"entityId": 1, "permission": "READWRITE", "resources": [".*v3/targetGroups/[0-9]+"]},
    {"entityId": 2, "permission": "READ", "resources": []},
]


class Upstream:
    """The protected app: records the scopes that reached it."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "lifespan":
            return
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
    return KeyloftMiddleware(upstream, verifier, exempt_paths=["/health", "/metrics"])


@pytest.fixture
def token(signing_key: SigningKey) -> str:
    return oauth_token(signing_key, scopes=GRANTS)


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v3/targetGroups/12"), ("DELETE", "/v3/targetGroups/12"), ("GET", "/v2/customers")],
)
async def test_an_allowed_call_passes_with_the_token_in_state(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str, method: str, path: str
) -> None:
    answer, _ = await call(guarded, method, path, _bearer(token))
    assert answer.status == 200
    assert answer.body == b"upstream"
    verified = upstream.scopes[0]["state"]["keyloft"]
    assert isinstance(verified, VerifiedToken)
    assert verified.client_key == CLIENT_KEY


async def test_the_v3_header_is_read_too(
    guarded: KeyloftMiddleware, upstream: Upstream, signing_key: SigningKey
) -> None:
    token = v3_token(signing_key, scopes=GRANTS)
    answer, _ = await call(guarded, "GET", "/v2/customers", [("X-CAP-API-OAUTH-TOKEN", token)])
    assert answer.status == 200
    assert upstream.scopes[0]["state"]["keyloft"].typ == "JWT"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/customers"),  # All is READ only
        ("GET", "/v3/targetGroups"),  # not one of the resources
        ("GET", "/v1.1/transaction/1"),  # no grant for Transaction
        ("OPTIONS", "/v2/customers"),  # neither read nor write
        ("GET", "/v3/targetGroups/../admin"),  # dot segments are refused outright
        ("GET", "/v3/targetGroups/1%2F..%2Fadmin"),
    ],
)
async def test_a_call_the_scopes_do_not_allow_is_403(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str, method: str, path: str
) -> None:
    answer, _ = await call(guarded, method, path, _bearer(token))
    assert answer.status == 403
    assert answer.json() == {
        "data": None,
        "errors": [{"code": 4000, "message": "Not authorized. Access is denied!"}],
    }
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
    assert upstream.scopes == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("Authorization", "Bearer not-a-token")], id="garbage"),
        pytest.param([("Authorization", "Bearer ")], id="empty"),
        pytest.param([("X-CAP-API-OAUTH-TOKEN", "a.b.c")], id="v3-header-garbage"),
    ],
)
async def test_an_invalid_token_is_401(
    guarded: KeyloftMiddleware, upstream: Upstream, headers: list[tuple[str, str]]
) -> None:
    answer, _ = await call(guarded, "GET", "/v2/customers", headers)
    assert answer.status == 401
    assert answer.json()["errors"][0]["code"] == 3003
    assert answer.json()["data"] is None
    assert answer.headers["www-authenticate"] == 'Bearer realm="keyloft", error="invalid_token"'
    assert answer.headers["cache-control"] == "no-store"
    assert upstream.scopes == []


async def test_an_expired_token_is_401(
    guarded: KeyloftMiddleware, upstream: Upstream, signing_key: SigningKey
) -> None:
    expired = oauth_token(signing_key, iat=1_000_000, exp=1_000_600, scopes=GRANTS)
    answer, _ = await call(guarded, "GET", "/v2/customers", _bearer(expired))
    assert answer.status == 401
    assert answer.json()["errors"][0]["code"] == 3003


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="none"),
        pytest.param([("Authorization", "Basic dXNlcjpwYXNz")], id="basic"),
    ],
)
async def test_no_token_is_401_without_an_error_code(
    guarded: KeyloftMiddleware, upstream: Upstream, headers: list[tuple[str, str]]
) -> None:
    answer, _ = await call(guarded, "GET", "/v2/customers", headers)
    assert answer.status == 401
    assert answer.json()["errors"][0]["code"] == 3001
    assert answer.headers["www-authenticate"] == 'Bearer realm="keyloft"'
    assert upstream.scopes == []


async def test_two_different_tokens_are_refused(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str, signing_key: SigningKey
) -> None:
    other = oauth_token(signing_key, scopes=GRANTS)
    answer, _ = await call(
        guarded, "GET", "/v2/customers", [*_bearer(token), ("X-CAP-API-OAUTH-TOKEN", other)]
    )
    assert answer.status == 400
    assert answer.json()["errors"][0]["code"] == 1001
    same, _ = await call(
        guarded, "GET", "/v2/customers", [*_bearer(token), ("X-CAP-API-OAUTH-TOKEN", token)]
    )
    assert same.status == 200
    assert len(upstream.scopes) == 1


async def test_exempt_paths_pass_without_a_token(
    guarded: KeyloftMiddleware, upstream: Upstream
) -> None:
    answer, _ = await call(guarded, "GET", "/health")
    assert answer.status == 200
    assert "keyloft" not in upstream.scopes[0].get("state", {})
    for near in ("/health/", "/healthz", "/Health", "/h%65alth"):
        refused, _ = await call(guarded, "GET", near)
        assert refused.status == 401, near
    assert len(upstream.scopes) == 1


async def test_lifespan_passes_through(guarded: KeyloftMiddleware, upstream: Upstream) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        raise AssertionError(f"the middleware answered a lifespan call: {message}")

    await guarded({"type": "lifespan"}, receive, send)
    assert [scope["type"] for scope in upstream.scopes] == ["lifespan"]


async def test_websockets_need_a_token_too(
    guarded: KeyloftMiddleware, upstream: Upstream, token: str
) -> None:
    refused, _ = await call(guarded, "GET", "/v2/stream", kind="websocket")
    assert refused.status == 403
    assert refused.json()["code"] == 1008
    accepted, _ = await call(guarded, "GET", "/v2/stream", _bearer(token), kind="websocket")
    assert accepted.status == 101
    assert upstream.scopes[0]["state"]["keyloft"].client_key == CLIENT_KEY


async def test_an_unreachable_issuer_is_503(signing_key: SigningKey, upstream: Upstream) -> None:
    async def down(url: str) -> Any:
        raise JwksUnavailable("down")

    guarded = KeyloftMiddleware(upstream, TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=down))
    answer, _ = await call(guarded, "GET", "/v2/customers", _bearer(oauth_token(signing_key)))
    assert answer.status == 503
    assert answer.json()["errors"][0]["code"] == 5030
    assert answer.headers["retry-after"].isdigit()
    assert upstream.scopes == []


async def test_custom_entities_are_used(
    verifier: TokenVerifier, upstream: Upstream, signing_key: SigningKey
) -> None:
    entities = [ScopeEntity(9, "Everything", None), ScopeEntity(4, "Reports", r"/reports/.*")]
    guarded = KeyloftMiddleware(upstream, verifier, entities=entities)
    token = oauth_token(signing_key, scopes=[{"entityId": 4, "permission": "READ"}])
    allowed, _ = await call(guarded, "GET", "/reports/2024", _bearer(token))
    denied, _ = await call(guarded, "GET", "/v2/customers", _bearer(token))
    assert (allowed.status, denied.status) == (200, 403)


async def test_starlette_sees_the_token_as_request_state(
    verifier: TokenVerifier, token: str
) -> None:
    async def whoami(request: Request) -> JSONResponse:
        verified: VerifiedToken = request.state.keyloft
        return JSONResponse({"client": verified.client_key, "org": verified.org_id})

    app = Starlette(routes=[Route("/v2/whoami", whoami)])
    app.add_middleware(KeyloftMiddleware, verifier=verifier)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://resource.test") as http:
        allowed = await http.get("/v2/whoami", headers=dict(_bearer(token)))
        refused = await http.get("/v2/whoami")
    assert allowed.status_code == 200
    assert allowed.json() == {"client": CLIENT_KEY, "org": 7}
    assert refused.status_code == 401

"""The resource-server side: a local JWKS behind a counting fetcher, token factories for
both token kinds, and a direct ASGI call that keeps the raw path as given."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from keyloft.domain.signing import SigningKey

ISSUER = "https://issuer.test"
AUDIENCE = "https://issuer.test"
JWKS_URL = "https://issuer.test/.well-known/jwks.json"
CLIENT_KEY = "k" * 25

GRANTS = [
    {"entityId": 1, "entity": "TargetGroups", "permission": "READWRITE", "resources": []},
    {"entityId": 2, "entity": "All", "permission": "READ", "resources": []},
]


@dataclass
class FakeJwks:
    """A JWKS endpoint in memory: records every fetch, serves ``document``."""

    document: dict[str, Any]
    urls: list[str] = field(default_factory=list)

    async def __call__(self, url: str) -> dict[str, Any]:
        self.urls.append(url)
        return json.loads(json.dumps(self.document))


def oauth_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": CLIENT_KEY,
        "client_id": CLIENT_KEY,
        "iat": now,
        "exp": now + 600,
        "jti": f"jti-{time.perf_counter_ns()}",
        "scope": "TargetGroups:readwrite All:read",
        "org_id": 7,
        "default_till": 70,
        "scopes": GRANTS,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def v3_claims(**overrides: Any) -> dict[str, Any]:
    claims = oauth_claims(client_id=41, client_key=CLIENT_KEY, token_use="token_access")
    for name in ("aud", "scope"):
        claims.pop(name)
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(
    key: SigningKey, claims: dict[str, Any], *, typ: str | None = "at+jwt", **headers: Any
) -> str:
    # PyJWT leaves out a typ of None (it adds "JWT" when typ is not named at all).
    header: dict[str, Any] = {"kid": key.kid, "typ": typ, **headers}
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers=header)


def oauth_token(key: SigningKey, **overrides: Any) -> str:
    return sign(key, oauth_claims(**overrides))


def v3_token(key: SigningKey, **overrides: Any) -> str:
    return sign(key, v3_claims(**overrides), typ="JWT")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: Any,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]] | None = None,
    *,
    kind: str = "http",
) -> tuple[Answer, dict[str, Any]]:
    """Call an ASGI app once; the answer and the scope the app was called with."""
    scope: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode("latin-1"),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers or []],
        "server": ("resource.test", 80),
        "client": ("127.0.0.1", 5000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if kind == "websocket":
            return {"type": "websocket.connect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if kind == "websocket":
        closed = next(m for m in sent if m["type"] in ("websocket.close", "websocket.accept"))
        status = 403 if closed["type"] == "websocket.close" else 101
        return Answer(status, {}, json.dumps(closed).encode()), scope
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    found = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], found, body), scope

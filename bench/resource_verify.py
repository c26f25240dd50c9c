"""Offline decisions per second of the resource-server middleware on one core.

Signs tokens with a fresh key, serves its JWKS from memory, and drives KeyloftMiddleware
directly (no HTTP server, a do-nothing upstream): each call reads the token, verifies it (or
finds it in the cache of verified tokens) and decides METHOD path. Prints decisions/s for one
token repeated and for distinct tokens (each verified once: a signature check per call).

    .venv/bin/python bench/resource_verify.py [--seconds 3] [--distinct 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import jwt

from keyloft.domain.signing import SigningKey, generate_signing_key
from keyloft.resource import KeyloftMiddleware, TokenVerifier

ISSUER = "https://issuer.bench"
CALLS = [
    ("GET", b"/v3/targetGroups/12"),
    ("POST", b"/v3/targetGroups"),
    ("GET", b"/v2/customers/7"),
    ("DELETE", b"/v2/customers/7"),
]
SCOPES = [
    {"entityId": 1, "permission": "READWRITE", "resources": [".*v3/targetGroups.*"]},
    {"entityId": 2, "permission": "READ", "resources": []},
]


def _token(key: SigningKey) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": ISSUER,
        "sub": "k" * 25,
        "client_id": "k" * 25,
        "iat": now,
        "exp": now + 3600,
        "jti": secrets.token_urlsafe(16),
        "scope": "TargetGroups:readwrite All:read",
        "org_id": 1,
        "default_till": 2,
        "scopes": SCOPES,
    }
    return jwt.encode(
        claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "at+jwt"}
    )


async def _upstream(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


def _scope(token: str, method: str, path: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path.decode(),
        "raw_path": path,
        "headers": [(b"host", b"api.bench"), (b"authorization", f"Bearer {token}".encode())],
    }


class Counter:
    """The ASGI ``send`` of every call: counts answers by status."""

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            self.statuses[status] = self.statuses.get(status, 0) + 1


async def repeated(guarded: KeyloftMiddleware, token: str, seconds: float) -> float:
    """One token, the calls of CALLS in turn, for ``seconds``."""
    scopes = [_scope(token, method, path) for method, path in CALLS] * 250
    send, done = Counter(), 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for scope in scopes:
            await guarded(dict(scope), _receive, send)
        done += len(scopes)
    elapsed = time.perf_counter() - start
    assert send.statuses == {200: done * 3 // 4, 403: done // 4}, send.statuses
    return done / elapsed


async def distinct(guarded: KeyloftMiddleware, tokens: list[str]) -> float:
    """Each token once, so that every call pays the signature check."""
    scopes = [_scope(token, "GET", b"/v2/customers/7") for token in tokens]
    send = Counter()
    start = time.perf_counter()
    for scope in scopes:
        await guarded(scope, _receive, send)
    elapsed = time.perf_counter() - start
    assert send.statuses == {200: len(tokens)}, send.statuses
    return len(tokens) / elapsed


async def main(seconds: float, count: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    key = generate_signing_key(datetime.now(UTC))

    async def fetch(url: str) -> dict[str, Any]:
        return {"keys": [key.public_jwk()]}

    def guarded() -> KeyloftMiddleware:
        verifier = TokenVerifier(f"{ISSUER}/jwks.json", ISSUER, ISSUER, fetch=fetch)
        return KeyloftMiddleware(_upstream, verifier)

    print(f"repeated token:  {await repeated(guarded(), _token(key), seconds):>10,.0f} decisions/s")
    tokens = [_token(key) for _ in range(count)]
    print(f"distinct tokens: {await distinct(guarded(), tokens):>10,.0f} decisions/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--distinct", type=int, default=3000)
    options = parser.parse_args()
    asyncio.run(main(options.seconds, options.distinct))

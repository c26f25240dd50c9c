"""The key set a resource server trusts: fetched from the issuer's JWKS URL, cached, refetched.

This module owns where keys come from and which are accepted. Keys are only ever fetched from
the URL the resource server was configured with — never from a ``jku``, ``x5u``, ``x5c`` or
``jwk`` named by a token. Only signing keys (``use: sig``) with a well-formed ``kid`` and an
``alg`` that fits the key are kept — RSA of at least 2048 bits for ``RS256``, EC P-256 for
``ES256``, OKP Ed25519 for ``EdDSA`` — each with its algorithm, the only one a token signed by
it may name; everything else in the set is ignored.

The set is kept for ``max_age`` seconds. A ``kid`` the cached set does not know causes at most
one refetch per ``min_refetch_interval`` seconds, so tokens with made-up key ids cannot turn a
resource server into a load generator against the issuer. When a refetch fails the keys already
known stay in use (an issuer outage does not take its resource servers down with it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

log = logging.getLogger("keyloft.resource")

# The algorithms a published key may be for, with the key type (and curve) each needs.
KEY_TYPES = {"RS256": ("RSA", None), "ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
MIN_RSA_BITS = 2048
MAX_JWKS_BYTES = 256 * 1024
MAX_KEYS = 64
KID = re.compile(r"[A-Za-z0-9_-]{1,64}")

Fetch = Callable[[str], Awaitable[Any]]
"""Fetches the JSON document at a URL; raises JwksUnavailable when it cannot."""


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """A key of the set and the one algorithm it verifies."""

    algorithm: str
    key: PublicKey


class JwksUnavailable(Exception):
    """The key set could not be fetched or read, and no keys are known yet."""


def httpx_fetcher(
    client: httpx.AsyncClient | None = None,
    *,
    timeout: float = 5.0,
    max_bytes: int = MAX_JWKS_BYTES,
) -> Fetch:
    """A Fetch over HTTP: ``client`` when given (shared pool, test transports), else a
    short-lived client per fetch. Redirects are not followed; the body is capped."""

    async def fetch(url: str) -> Any:
        if client is not None:
            return await _get(client, url, seconds=timeout, max_bytes=max_bytes)
        async with httpx.AsyncClient() as own:
            return await _get(own, url, seconds=timeout, max_bytes=max_bytes)

    return fetch


async def _get(client: httpx.AsyncClient, url: str, *, seconds: float, max_bytes: int) -> Any:
    body = bytearray()
    try:
        async with client.stream(
            "GET",
            url,
            headers={"Accept": "application/json"},
            timeout=seconds,
            follow_redirects=False,
        ) as response:
            if response.status_code != 200:
                raise JwksUnavailable(f"JWKS answered HTTP {response.status_code}")
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise JwksUnavailable(f"JWKS larger than {max_bytes} bytes")
    except httpx.HTTPError as exc:
        raise JwksUnavailable(f"JWKS fetch failed: {type(exc).__name__}") from exc
    try:
        return json.loads(body)
    except ValueError as exc:
        raise JwksUnavailable("JWKS is not JSON") from exc


def _public_key(jwk: Mapping[str, Any]) -> PublishedKey | None:
    algorithm = jwk.get("alg")
    if not isinstance(algorithm, str) or algorithm not in KEY_TYPES or jwk.get("use") != "sig":
        return None
    kty, crv = KEY_TYPES[algorithm]
    if jwk.get("kty") != kty or jwk.get("crv") != crv:
        return None
    if "d" in jwk:  # a private key has no business in a published set
        return None
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    try:
        key = _from_jwk(algorithm, dict(jwk))
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        return None
    return PublishedKey(algorithm, key) if key is not None else None


def _from_jwk(algorithm: str, jwk: dict[str, Any]) -> PublicKey | None:
    """The public key of ``jwk`` if it is the kind ``algorithm`` needs, else None."""
    if algorithm == "RS256":
        key = RSAAlgorithm.from_jwk(jwk)
        ok = isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS
    elif algorithm == "ES256":
        key = ECAlgorithm.from_jwk(jwk)
        ok = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    else:
        key = OKPAlgorithm.from_jwk(jwk)
        ok = isinstance(key, ed25519.Ed25519PublicKey)
    return key if ok and isinstance(key, PublicKey) else None


def parse_jwks(document: Any) -> dict[str, PublishedKey]:
    """The acceptable keys of a JWKS document by ``kid``; ValueError when it is no key set.

    A ``kid`` published twice is ambiguous and dropped altogether."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JSON Web Key Set")
    keys: dict[str, PublishedKey] = {}
    repeated: set[str] = set()
    for jwk in document["keys"][:MAX_KEYS]:
        if not isinstance(jwk, Mapping):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not KID.fullmatch(kid):
            continue
        key = _public_key(jwk)
        if key is None:
            continue
        if kid in keys:
            repeated.add(kid)
        keys[kid] = key
    for kid in repeated:
        del keys[kid]
    return keys


class JwksCache:
    """The issuer's public keys by ``kid``, refreshed from one fixed URL."""

    def __init__(
        self,
        url: str,
        *,
        fetch: Fetch | None = None,
        max_age: float = 300.0,
        min_refetch_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("the JWKS URL must be http(s)")
        if max_age <= 0 or min_refetch_interval < 0:
            raise ValueError("max_age must be positive and min_refetch_interval not negative")
        self.url = url
        self._fetch = fetch or httpx_fetcher()
        self._max_age = max_age
        self._min_refetch = min_refetch_interval
        self._clock = clock
        self._keys: dict[str, PublishedKey] = {}
        self._fetched_at: float | None = None  # the last fetch that succeeded
        self._attempted_at: float | None = None  # the last fetch, successful or not
        self._refetched_at: float | None = None  # the last fetch an unknown kid caused
        self._lock: asyncio.Lock | None = None
        self.fetches = 0
        """How many fetches were attempted (for metrics and tests)."""

    def __repr__(self) -> str:
        return f"JwksCache(url={self.url!r}, kids={list(self._keys)!r})"

    def load(self, document: Any) -> None:
        """Use ``document`` as if it had just been fetched (seeding, tests)."""
        self._keys = parse_jwks(document)
        self._fetched_at = self._attempted_at = self._clock()

    def kids(self) -> list[str]:
        return list(self._keys)

    def _fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self._max_age

    def _waited(self, since: float | None, now: float) -> bool:
        return since is None or now - since >= self._min_refetch

    def cached(self, kid: str) -> PublishedKey | None:
        """The key for ``kid`` if the cached set is fresh and has it; never fetches."""
        return self._keys.get(kid) if self._fresh(self._clock()) else None

    def _known(self, kid: str, now: float) -> tuple[bool, PublishedKey | None]:
        """(True, answer) when ``kid`` can be answered without fetching, else (False, None).

        A fresh set answers unless the kid is unknown and no unknown kid caused a fetch for
        ``min_refetch_interval``; a stale set is refetched, except right after a failed fetch
        (then the stale keys answer, or JwksUnavailable when there are none)."""
        if self._fresh(now):
            key = self._keys.get(kid)
            return (key is not None or not self._waited(self._refetched_at, now)), key
        if self._waited(self._attempted_at, now):
            return False, None
        if not self._keys:
            raise JwksUnavailable("no keys known yet")
        return True, self._keys.get(kid)

    async def key(self, kid: str) -> PublishedKey | None:
        """The key for ``kid``, fetching when the set is stale or (rate-limited) when the
        ``kid`` is unknown; None when the issuer does not publish it. Raises JwksUnavailable
        only when no keys are known at all."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        fetching = self._lock.locked()
        try:
            answered, key = self._known(kid, self._clock())
        except JwksUnavailable:
            if not fetching:
                raise
            answered, key = False, None
        # An unknown kid waits for a fetch in flight: it may bring that very key.
        if answered and (key is not None or not fetching):
            return key
        async with self._lock:
            now = self._clock()  # another task may have fetched while this one waited
            answered, key = self._known(kid, now)
            if answered:
                return key
            if self._fresh(now):
                self._refetched_at = now
            await self._refresh(now)
            return self._keys.get(kid)

    async def _refresh(self, now: float) -> None:
        self._attempted_at = now
        self.fetches += 1
        try:
            self._keys = parse_jwks(await self._fetch(self.url))
        except (JwksUnavailable, ValueError) as exc:
            log.warning("JWKS refresh from %s failed: %s", self.url, exc)
            if not self._keys:
                raise JwksUnavailable(str(exc)) from exc
            return
        self._fetched_at = now

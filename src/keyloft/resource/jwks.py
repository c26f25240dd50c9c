"""The key set a resource server trusts: fetched from the issuer's JWKS URL, cached, refetched.

This module owns where keys come from (``keyset`` owns which of them are accepted). Keys are
only ever fetched from the URL the resource server was configured with — never from a ``jku``,
``x5u``, ``x5c`` or ``jwk`` named by a token.

The set is kept for ``max_age`` seconds. A ``kid`` the cached set does not know causes at most
one refetch per ``min_refetch_interval`` seconds, so tokens with made-up key ids cannot turn a
resource server into a load generator against the issuer. When a refetch fails the keys already
known stay in use (an issuer outage does not take its resource servers down with it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from keyloft.resource.keyset import PublishedKey, parse_jwks

__all__ = [
    "Fetch",
    "JwksCache",
    "JwksUnavailable",
    "PublishedKey",
    "httpx_fetcher",
    "parse_jwks",
]

log = logging.getLogger("keyloft.resource")

MAX_JWKS_BYTES = 256 * 1024

Fetch = Callable[[str], Awaitable[Any]]
"""Fetches the JSON document at a URL; raises JwksUnavailable when it cannot."""


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

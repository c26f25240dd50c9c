"""Public keys held by other servers: a client's ``jwksUri``, and a federated issuer's keys
found through its metadata (OpenID Connect Discovery, else RFC 8414).

Fetched documents are kept per URL for as long as their ``Cache-Control`` allows, within
``MIN_TTL`` and ``MAX_TTL`` (``DEFAULT_TTL`` when it says nothing), so once a set is held no
token request waits for the network. A ``kid`` the held set lacks (the owner rotated its key)
fetches the set again, at most once per ``REFETCH_SECONDS`` per client or issuer, so a flood of
made-up ``kid``s costs the owner nothing. A set whose refresh fails is used for up to
``MAX_STALE`` beyond its lifetime, so a short outage of the owner's server does not lock its
clients out. Concurrent requests for one URL share one fetch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from keyloft.domain.client_keys import ClientKey, read_key_set
from keyloft.services.ports import RemoteDocument, RemoteFetchFailed, RemoteJson

log = logging.getLogger("keyloft.key_sets")

MIN_TTL = 60.0
DEFAULT_TTL = 600.0
MAX_TTL = 6 * 3600.0
MAX_STALE = 24 * 3600.0
REFETCH_SECONDS = 10.0
MAX_ENTRIES = 10_000
DISCOVERY = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@dataclass(frozen=True, slots=True)
class _Held:
    value: Any
    fetched_at: float
    expires_at: float


class RemoteKeySets:
    def __init__(self, source: RemoteJson, wall: Callable[[], float]) -> None:
        self._source = source
        self._wall = wall
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._last_refetch: OrderedDict[str, float] = OrderedDict()

    async def client_keys(self, owner: str, url: str, kid: str | None) -> tuple[ClientKey, ...]:
        """The keys at a client's ``jwksUri``; ``owner`` names the client for the refetch
        limit. ``RemoteFetchFailed`` when they cannot be had."""
        return await self._keys(owner, url, kid)

    async def issuer_keys(self, issuer: str, kid: str | None) -> tuple[ClientKey, ...]:
        """The keys of a federated issuer, found through its metadata, whose ``issuer`` must
        be the one trusted (OpenID Connect Discovery §4.3, RFC 8414 §3.3)."""
        metadata = await self._cached(f"metadata:{issuer}", lambda: self._metadata(issuer))
        return await self._keys(f"issuer:{issuer}", metadata, kid)

    async def _metadata(self, issuer: str) -> tuple[str, float | None]:
        base = issuer.rstrip("/")
        last: RemoteFetchFailed | None = None
        for suffix in DISCOVERY:
            try:
                document = await self._source.get_json(base + suffix)
            except RemoteFetchFailed as failed:
                last = failed
                if failed.reason != "status":
                    raise
                continue
            body = document.body
            if not isinstance(body, Mapping) or body.get("issuer") != issuer:
                raise RemoteFetchFailed("metadata", "issuer does not match")
            jwks_uri = body.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri:
                raise RemoteFetchFailed("metadata", "no jwks_uri")
            return jwks_uri, document.max_age
        assert last is not None
        raise last

    async def _keys(self, owner: str, url: str, kid: str | None) -> tuple[ClientKey, ...]:
        keys: tuple[ClientKey, ...] = await self._cached(url, lambda: self._key_set(url))
        if kid is None or any(key.kid == kid for key in keys):
            return keys
        now = self._wall()
        last = self._last_refetch.get(owner)
        if last is not None and now - last < REFETCH_SECONDS:
            return keys
        self._last_refetch[owner] = now
        self._last_refetch.move_to_end(owner)
        while len(self._last_refetch) > MAX_ENTRIES:
            self._last_refetch.popitem(last=False)
        held = self._held.get(url)
        if held is not None:  # expired now, yet still there to fall back on
            self._held[url] = _Held(held.value, held.fetched_at, now)
        refetched: tuple[ClientKey, ...] = await self._cached(url, lambda: self._key_set(url))
        return refetched

    async def _key_set(self, url: str) -> tuple[tuple[ClientKey, ...], float | None]:
        document: RemoteDocument = await self._source.get_json(url)
        return read_key_set(document.body), document.max_age

    async def _cached(
        self, name: str, fetch: Callable[[], Awaitable[tuple[Any, float | None]]]
    ) -> Any:
        held = self._held.get(name)
        if held is not None and self._wall() < held.expires_at:
            return held.value
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            held = self._held.get(name)
            now = self._wall()
            if held is not None and now < held.expires_at:
                return held.value  # another request fetched it meanwhile
            try:
                value, max_age = await fetch()
            except RemoteFetchFailed as failed:
                if held is not None and now < held.expires_at + MAX_STALE:
                    log.warning(
                        "using a stale remote document after a failed refresh",
                        extra={"document": name.split("?")[0], "reason": failed.reason},
                    )
                    return held.value
                raise
            ttl = DEFAULT_TTL if max_age is None else min(max(max_age, MIN_TTL), MAX_TTL)
            self._held[name] = _Held(value, now, now + ttl)
            self._held.move_to_end(name)
            while len(self._held) > MAX_ENTRIES:
                self._held.popitem(last=False)
            if len(self._locks) > MAX_ENTRIES:
                for idle in [
                    key for key, held_lock in self._locks.items() if not held_lock.locked()
                ]:
                    del self._locks[idle]
            return value

    def forget(self) -> None:
        """Drop every held document (a test, or an operator who wants fresh keys now)."""
        self._held.clear()
        self._last_refetch.clear()

"""A per-node cache of what the hot paths need about a client: the client and its secret hash.

Token minting and token-authenticated calls read it instead of the store. Every change to a
client is announced on the invalidation bus after commit and drops the entry on every node;
entries also expire after ``ttl`` seconds as a backstop. While the bus cannot vouch for
freshness (Redis unreachable) the cache is bypassed, so answers come from the store. Where
changes are noticed by looking rather than by being told (SQLite workers without Redis),
``watch`` is called before an entry is trusted and drops what another process made stale.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from keyloft.services.ports import Changes, ClientState


class ClientStateCache:
    """Implements ``keyloft.services.ports.ClientCache``."""

    def __init__(
        self,
        *,
        ttl: float = 30.0,
        max_entries: int = 50_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._now = monotonic
        self._by_key: OrderedDict[str, tuple[float, ClientState]] = OrderedDict()
        self._key_of_id: dict[int, str] = {}
        self._generation = 0
        self.enabled = True
        self.watch: Callable[[], None] | None = None
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._by_key)

    def by_key(self, client_key: str) -> ClientState | None:
        if not self.enabled:
            return None
        if self.watch is not None:
            self.watch()
        entry = self._by_key.get(client_key)
        if entry is None or entry[0] < self._now():
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    def by_id(self, client_id: int) -> ClientState | None:
        if self.watch is not None and self.enabled:
            self.watch()
        key = self._key_of_id.get(client_id)
        return self.by_key(key) if key is not None else None

    def generation(self) -> int:
        """Take this before reading the store; pass it to ``put`` with what was read."""
        return self._generation

    def put(self, state: ClientState, *, read_at: int) -> None:
        """Remember ``state`` unless an invalidation arrived since it was read (it may be stale)."""
        if not self.enabled or read_at != self._generation:
            return
        key = state.client.client_key
        self._by_key[key] = (self._now() + self._ttl, state)
        self._by_key.move_to_end(key)
        self._key_of_id[state.client.id] = key
        while len(self._by_key) > self._max:
            _, (_, evicted) = self._by_key.popitem(last=False)
            self._key_of_id.pop(evicted.client.id, None)

    def invalidate(self, client_id: int) -> None:
        self._generation += 1
        key = self._key_of_id.pop(client_id, None)
        if key is not None:
            self._by_key.pop(key, None)

    def invalidate_org(self, org_id: int) -> None:
        """Drop every client of ``org_id`` (its scope entities changed)."""
        self._generation += 1
        for key, (_, cached) in list(self._by_key.items()):
            if cached.client.org_id == org_id:
                del self._by_key[key]
                self._key_of_id.pop(cached.client.id, None)

    def clear(self) -> None:
        self._generation += 1
        self._by_key.clear()
        self._key_of_id.clear()

    def apply(self, changes: Changes) -> None:
        for client_id in changes.clients:
            self.invalidate(client_id)
        for org_id in changes.orgs:
            self.invalidate_org(org_id)

    def trusted(self, trusted: bool) -> None:
        """Empty and off while changes elsewhere may go unheard; on (emptied) when heard again."""
        self.clear()
        self.enabled = trusted

"""A per-node cache of what the hot paths need about a client: the client and its secret hash;
of each small org's client list (every client, deleted ones too, in creation order); and of
the principals (admins and Tills) that signed in with Basic, with their password hashes.

Token minting, token-authenticated calls, Basic logins and the management API's reads use it
instead of the store. Every change to a client is announced on the invalidation bus after
commit and drops the entry on every node, and a change to an org's principals or scope
entities drops everything of that org; entries also expire after ``ttl`` seconds as a
backstop. While the bus cannot vouch for
freshness (Redis unreachable) the cache is bypassed, so answers come from the store. Where
changes are noticed by looking rather than by being told (SQLite workers without Redis),
``watch`` is called before an entry is trusted and drops what another process made stale.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from keyloft.domain.actors import Principal
from keyloft.domain.clients import Client
from keyloft.domain.orgs import Org
from keyloft.services.ports import Changes, ClientState

LARGEST_LISTED_ORG = 1_000  # clients; larger orgs' lists are always read from the store
MAX_LOGINS = 10_000


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
        self._lists: OrderedDict[int, tuple[float, Org, tuple[Client, ...]]] = OrderedDict()
        self._listed: dict[int, int] = {}  # client id -> org id, for the lists held
        self._listed_count = 0
        self._logins: OrderedDict[str, tuple[float, Principal, str]] = OrderedDict()
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

    def _held(self, table: Mapping[Any, tuple[Any, ...]], key: Any) -> tuple[Any, ...] | None:
        """``table``'s entry (expiry first) under ``key``, while it is fresh and trusted."""
        if not self.enabled:
            return None
        if self.watch is not None:
            self.watch()
        entry = table.get(key)
        if entry is None or entry[0] < self._now():
            return None
        return entry

    def org_clients(self, org_id: int) -> tuple[Org, tuple[Client, ...]] | None:
        """The org and every client of it (deleted ones too) in creation order, if held."""
        entry = self._held(self._lists, org_id)
        return (entry[1], entry[2]) if entry is not None else None

    def put_org_clients(self, org: Org, clients: tuple[Client, ...], *, read_at: int) -> None:
        if not self.enabled or read_at != self._generation or len(clients) > LARGEST_LISTED_ORG:
            return
        self._drop_list(org.id)
        self._lists[org.id] = (self._now() + self._ttl, org, clients)
        for client in clients:
            self._listed[client.id] = org.id
        self._listed_count += len(clients)
        while self._listed_count > self._max:
            self._drop_list(next(iter(self._lists)))

    def _drop_list(self, org_id: int) -> None:
        entry = self._lists.pop(org_id, None)
        if entry is not None:
            for client in entry[2]:
                self._listed.pop(client.id, None)
            self._listed_count -= len(entry[2])

    def login(self, code: str) -> tuple[Principal, str] | None:
        """The active principal whose login is ``code`` and its password hash, if held."""
        entry = self._held(self._logins, code)
        return (entry[1], entry[2]) if entry is not None else None

    def put_login(
        self, code: str, principal: Principal, password_hash: str, *, read_at: int
    ) -> None:
        if not self.enabled or read_at != self._generation:
            return
        self._logins[code] = (self._now() + self._ttl, principal, password_hash)
        self._logins.move_to_end(code)
        while len(self._logins) > MAX_LOGINS:
            self._logins.popitem(last=False)

    def invalidate(self, client_id: int) -> None:
        self._generation += 1
        key = self._key_of_id.pop(client_id, None)
        if key is not None:
            self._by_key.pop(key, None)
        org_id = self._listed.get(client_id)
        if org_id is not None:
            self._drop_list(org_id)
        else:  # a client no list holds, such as a new one: its org's list is unknown here
            self._clear_lists()

    def invalidate_org(self, org_id: int) -> None:
        """Drop every client and principal of ``org_id`` (its scope entities or principals
        changed)."""
        self._generation += 1
        for code, (_, principal, _) in list(self._logins.items()):
            if principal.org_id == org_id:
                del self._logins[code]
        for key, (_, cached) in list(self._by_key.items()):
            if cached.client.org_id == org_id:
                del self._by_key[key]
                self._key_of_id.pop(cached.client.id, None)
        self._drop_list(org_id)

    def clear(self) -> None:
        self._generation += 1
        self._by_key.clear()
        self._key_of_id.clear()
        self._logins.clear()
        self._clear_lists()

    def _clear_lists(self) -> None:
        self._lists.clear()
        self._listed.clear()
        self._listed_count = 0

    def apply(self, changes: Changes) -> None:
        for client_id in changes.clients:
            self.invalidate(client_id)
        for org_id in changes.orgs:
            self.invalidate_org(org_id)

    def trusted(self, trusted: bool) -> None:
        """Empty and off while changes elsewhere may go unheard; on (emptied) when heard again."""
        self.clear()
        self.enabled = trusted

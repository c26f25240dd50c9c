"""The per-node client cache and its org lists: hits, expiry, invalidation races, bounds,
bypass."""

from __future__ import annotations

from dataclasses import replace

from keyloft.cache.client_state import LARGEST_LISTED_ORG, ClientStateCache
from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.clients import Client
from keyloft.domain.orgs import Org
from keyloft.services.ports import Changes
from tests.support.client_states import state


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_hit_by_key_and_id_then_expiry() -> None:
    clock = FakeClock()
    cache = ClientStateCache(ttl=10, monotonic=clock)
    cache.put(state(7), read_at=cache.generation())
    assert cache.by_key("key7") is not None
    assert cache.by_id(7) is not None
    clock.now += 11
    assert cache.by_key("key7") is None
    assert cache.hits == 2
    assert cache.misses == 1


def test_invalidation_drops_entry() -> None:
    cache = ClientStateCache()
    cache.put(state(1), read_at=cache.generation())
    cache.invalidate(1)
    assert cache.by_id(1) is None
    assert cache.by_key("key1") is None


def test_read_that_raced_an_invalidation_is_not_cached() -> None:
    cache = ClientStateCache()
    read_at = cache.generation()
    cache.invalidate(3)  # arrives while the store read is in flight
    cache.put(state(3), read_at=read_at)
    assert cache.by_id(3) is None


def test_disabled_cache_neither_stores_nor_answers() -> None:
    cache = ClientStateCache()
    cache.put(state(1), read_at=cache.generation())
    cache.enabled = False
    assert cache.by_key("key1") is None
    cache.put(state(2), read_at=cache.generation())
    cache.enabled = True
    assert cache.by_key("key2") is None


def test_size_is_bounded() -> None:
    cache = ClientStateCache(max_entries=5)
    for n in range(20):
        cache.put(state(n), read_at=cache.generation())
    assert len(cache) == 5
    assert cache.by_id(0) is None
    assert cache.by_id(19) is not None


ORG = Org(1, "Acme", "Asia/Kolkata", max_clients=50, max_token_ttl=3600)


def listed(org_id: int, *ids: int) -> tuple[Client, ...]:
    return tuple(replace(state(n).client, org_id=org_id) for n in ids)


def test_an_org_list_is_held_until_one_of_its_clients_changes() -> None:
    clock = FakeClock()
    cache = ClientStateCache(ttl=10, monotonic=clock)
    other = replace(ORG, id=2)
    cache.put_org_clients(ORG, listed(1, 1, 2, 3), read_at=cache.generation())
    cache.put_org_clients(other, listed(2, 8), read_at=cache.generation())
    held = cache.org_clients(1)
    assert held is not None
    assert held[0] == ORG
    assert [c.id for c in held[1]] == [1, 2, 3]

    cache.invalidate(2)  # a client of org 1 changed
    assert cache.org_clients(1) is None
    assert cache.org_clients(2) is not None
    clock.now += 11
    assert cache.org_clients(2) is None  # the backstop expiry


def test_a_client_no_list_holds_drops_every_list() -> None:
    cache = ClientStateCache()
    cache.put_org_clients(ORG, listed(1, 1), read_at=cache.generation())
    cache.invalidate(99)  # e.g. just created: which org's list it joins is not known here
    assert cache.org_clients(1) is None


def test_org_changes_races_bypass_and_bounds_apply_to_lists() -> None:
    cache = ClientStateCache(max_entries=5)
    cache.put_org_clients(ORG, listed(1, 1, 2), read_at=cache.generation())
    cache.apply(Changes(orgs={1}))
    assert cache.org_clients(1) is None

    read_at = cache.generation()
    cache.invalidate(7)  # arrives while the list is read
    cache.put_org_clients(ORG, listed(1, 1, 2), read_at=read_at)
    assert cache.org_clients(1) is None

    cache.put_org_clients(ORG, listed(1, *range(1, 7)), read_at=cache.generation())
    assert cache.org_clients(1) is None  # six clients: over the bound of five

    for org_id in (1, 2, 3):
        org = replace(ORG, id=org_id)
        cache.put_org_clients(
            org, listed(org_id, org_id * 10, org_id * 10 + 1), read_at=cache.generation()
        )
    assert cache.org_clients(1) is None  # the oldest list made room
    assert cache.org_clients(3) is not None

    cache.trusted(False)
    assert cache.org_clients(3) is None
    cache.put_org_clients(ORG, listed(1, 1), read_at=cache.generation())
    cache.trusted(True)
    assert cache.org_clients(1) is None


def test_a_large_org_is_never_held() -> None:
    cache = ClientStateCache(max_entries=50_000)
    many = listed(1, *range(LARGEST_LISTED_ORG + 1))
    cache.put_org_clients(ORG, many, read_at=cache.generation())
    assert cache.org_clients(1) is None


def _login(org_id: int, code: str) -> Principal:
    return Principal(100 + org_id, org_id, PrincipalKind.ADMIN_USER, code, code.title())


def test_logins_are_held_until_their_org_changes_or_they_expire() -> None:
    clock = FakeClock()
    cache = ClientStateCache(ttl=10, monotonic=clock)
    for org_id, code in ((1, "ann"), (2, "bob")):
        cache.put_login(code, _login(org_id, code), "argon2-hash", read_at=cache.generation())
    assert cache.login("ann") == (_login(1, "ann"), "argon2-hash")
    assert cache.login("nobody") is None

    cache.apply(Changes(orgs={1}))
    assert cache.login("ann") is None
    assert cache.login("bob") is not None
    cache.apply(Changes(clients={5}))  # a client's change keeps the logins
    assert cache.login("bob") is not None
    clock.now += 11
    assert cache.login("bob") is None


def test_a_login_read_before_an_invalidation_is_not_kept() -> None:
    cache = ClientStateCache()
    read_at = cache.generation()
    cache.invalidate_org(1)
    cache.put_login("ann", _login(1, "ann"), "h", read_at=read_at)
    assert cache.login("ann") is None


def test_logins_are_dropped_when_the_cache_is_cleared_or_distrusted() -> None:
    cache = ClientStateCache()
    cache.put_login("ann", _login(1, "ann"), "h", read_at=cache.generation())
    cache.clear()
    assert cache.login("ann") is None
    cache.put_login("ann", _login(1, "ann"), "h", read_at=cache.generation())
    cache.trusted(False)
    assert cache.login("ann") is None
    cache.put_login("ann", _login(1, "ann"), "h", read_at=cache.generation())
    assert cache.login("ann") is None  # not kept while distrusted

"""The per-node client cache: hits, expiry, invalidation races, bounds, bypass."""

from __future__ import annotations

from datetime import UTC, datetime

from keyloft.cache.client_state import ClientStateCache
from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.clients import Client
from keyloft.services.ports import ClientState


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def state(client_id: int, key: str | None = None) -> ClientState:
    actor = Principal(1, 1, PrincipalKind.ADMIN_USER, "admin", "Admin")
    now = datetime.now(UTC)
    client = Client(
        id=client_id,
        org_id=1,
        client_key=key or f"key{client_id}",
        name=f"c{client_id}",
        description="",
        expiration_token_time=60,
        default_till_id=2,
        is_valid=True,
        grants=(),
        created_on=now,
        last_updated_on=now,
        created_by=actor,
        last_updated_by=actor,
    )
    return ClientState(client, "kl1$hmac-sha256$" + "0" * 64, (), None)


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

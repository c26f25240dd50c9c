"""The cache of verified Basic logins, driven by an injected monotonic clock."""

from __future__ import annotations

import pytest

from keyloft.services.login_cache import LoginCache

KEY = b"c" * 32
HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"


class FakeMonotonic:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


def _cache(clock: FakeMonotonic, ttl: float = 60.0, max_entries: int = 100) -> LoginCache:
    return LoginCache(KEY, ttl, max_entries=max_entries, monotonic=clock)


def test_miss_before_remember(clock: FakeMonotonic) -> None:
    assert _cache(clock).verified("admin", "pw", HASH) is False


def test_hit_within_ttl(clock: FakeMonotonic) -> None:
    cache = _cache(clock)
    cache.remember("admin", "pw", HASH)
    clock.value += 59.9
    assert cache.verified("admin", "pw", HASH) is True


def test_miss_after_ttl(clock: FakeMonotonic) -> None:
    cache = _cache(clock)
    cache.remember("admin", "pw", HASH)
    clock.value += 60.1
    assert cache.verified("admin", "pw", HASH) is False
    clock.value -= 1.0  # an expired entry is dropped, not merely skipped
    assert cache.verified("admin", "pw", HASH) is False


def test_miss_when_the_stored_hash_changed(clock: FakeMonotonic) -> None:
    cache = _cache(clock)
    cache.remember("admin", "pw", HASH)
    assert cache.verified("admin", "pw", HASH + "x") is False
    assert cache.verified("admin", "pw", HASH) is False


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("admin", "pw2", id="other-password"),
        pytest.param("admin2", "pw", id="other-user"),
        pytest.param("admi", "n\x00pw", id="shifted-boundary"),
    ],
)
def test_miss_for_other_logins(clock: FakeMonotonic, username: str, password: str) -> None:
    cache = _cache(clock)
    cache.remember("admin", "pw", HASH)
    assert cache.verified(username, password, HASH) is False
    assert cache.verified("admin", "pw", HASH) is True


def test_bounded_size_evicts_oldest(clock: FakeMonotonic) -> None:
    cache = _cache(clock, max_entries=2)
    for user in ("a", "b", "c"):
        cache.remember(user, "pw", HASH)
    assert cache.verified("a", "pw", HASH) is False
    assert cache.verified("b", "pw", HASH) is True
    assert cache.verified("c", "pw", HASH) is True
    assert repr(cache) == "LoginCache(entries=2)"


def test_remembering_again_refreshes_position_and_expiry(clock: FakeMonotonic) -> None:
    cache = _cache(clock, max_entries=2)
    cache.remember("a", "pw", HASH)
    cache.remember("b", "pw", HASH)
    clock.value += 50
    cache.remember("a", "pw", HASH)
    cache.remember("c", "pw", HASH)
    assert cache.verified("b", "pw", HASH) is False
    clock.value += 50
    assert cache.verified("a", "pw", HASH) is True


@pytest.mark.parametrize("ttl", [0.0, -1.0])
def test_ttl_zero_disables(clock: FakeMonotonic, ttl: float) -> None:
    cache = _cache(clock, ttl=ttl)
    cache.remember("admin", "pw", HASH)
    assert cache.verified("admin", "pw", HASH) is False
    assert repr(cache) == "LoginCache(entries=0)"


def test_repr_shows_no_credentials(clock: FakeMonotonic) -> None:
    cache = _cache(clock)
    cache.remember("admin-user", "hunter2-password", HASH)
    shown = repr(cache)
    assert "admin-user" not in shown
    assert "hunter2" not in shown
    assert "argon2" not in shown

"""The cache of verified tokens, driven by injected wall and monotonic clocks."""

from __future__ import annotations

from typing import Any

import pytest

from keyloft.services.verified_tokens import EXPIRY_LEEWAY, VerifiedToken, VerifiedTokens

ISSUER = "https://keyloft.test"
EXP = 10_000.0


class Clock:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def wall() -> Clock:
    return Clock(EXP - 600)


@pytest.fixture
def mono() -> Clock:
    return Clock(50.0)


def _cache(wall: Clock, mono: Clock, **options: Any) -> VerifiedTokens:
    return VerifiedTokens(wall=wall, monotonic=mono, **options)


def _verified(exp: Any = EXP, issuer: str = ISSUER) -> VerifiedToken:
    return VerifiedToken("JWT", "k1", {"exp": exp, "jti": "j"}, (), issuer, issuer)


def _get(cache: VerifiedTokens, token: str, issuer: str = ISSUER) -> VerifiedToken | None:
    return cache.get(VerifiedTokens.digest(token), issuer=issuer, audience=issuer)


def test_hit_after_put(wall: Clock, mono: Clock) -> None:
    cache = _cache(wall, mono)
    entry = _verified()
    cache.put(VerifiedTokens.digest("t1"), entry)
    assert _get(cache, "t1") is entry
    assert _get(cache, "t2") is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_expiry_with_the_verification_leeway(wall: Clock, mono: Clock) -> None:
    cache = _cache(wall, mono)
    cache.put(VerifiedTokens.digest("t"), _verified())
    wall.value = EXP + EXPIRY_LEEWAY - 0.001
    assert _get(cache, "t") is not None
    wall.value = EXP + EXPIRY_LEEWAY
    assert _get(cache, "t") is None
    wall.value = EXP  # an expired entry is dropped, not merely skipped
    assert _get(cache, "t") is None
    assert len(cache) == 0


def test_never_beyond_the_ceiling(wall: Clock, mono: Clock) -> None:
    cache = _cache(wall, mono, ceiling=60.0)
    cache.put(VerifiedTokens.digest("t"), _verified())
    mono.value += 59.9
    assert _get(cache, "t") is not None
    mono.value += 0.1
    assert _get(cache, "t") is None


def test_only_for_the_issuer_and_audience_it_was_verified_for(wall: Clock, mono: Clock) -> None:
    cache = _cache(wall, mono)
    cache.put(VerifiedTokens.digest("t"), _verified())
    assert _get(cache, "t", issuer="https://elsewhere") is None
    assert cache.get(VerifiedTokens.digest("t"), issuer=ISSUER, audience="api") is None
    assert _get(cache, "t") is not None


@pytest.mark.parametrize("exp", [None, "10000", True])
def test_a_token_without_a_numeric_exp_is_not_kept(wall: Clock, mono: Clock, exp: Any) -> None:
    cache = _cache(wall, mono)
    cache.put(VerifiedTokens.digest("t"), _verified(exp=exp))
    assert len(cache) == 0


def test_bounded_least_recently_used_go_first(wall: Clock, mono: Clock) -> None:
    cache = _cache(wall, mono, max_entries=2)
    for token in ("a", "b"):
        cache.put(VerifiedTokens.digest(token), _verified())
    assert _get(cache, "a") is not None  # "b" is now the least recently used
    cache.put(VerifiedTokens.digest("c"), _verified())
    assert len(cache) == 2
    assert _get(cache, "b") is None
    assert _get(cache, "a") is not None
    assert _get(cache, "c") is not None


def test_zero_entries_keeps_nothing(wall: Clock, mono: Clock) -> None:
    cache = _cache(wall, mono, max_entries=0)
    cache.put(VerifiedTokens.digest("t"), _verified())
    assert _get(cache, "t") is None


def test_keyed_by_digest_and_repr_shows_no_token(wall: Clock, mono: Clock) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    digest = VerifiedTokens.digest(token)
    assert len(digest) == 32
    assert token.encode() not in digest
    cache = _cache(wall, mono)
    cache.put(digest, _verified())
    assert repr(cache) == "VerifiedTokens(entries=1)"
    cache.clear()
    assert len(cache) == 0

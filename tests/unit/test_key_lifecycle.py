"""Signing-key lifecycle in the key ring, on a fake clock: published before it signs, kept
published until the tokens it signed have expired, retired at once. The ring's clock is also
the one its verification reads, so the tokens here are issued on it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from keyloft.domain.signing import (
    KeyRing,
    NoSigningKey,
    SigningKey,
    TokenRejected,
    generate_signing_key,
    key_phases,
)
from keyloft.domain.signing.lifecycle import next_change

ISSUER = "http://issuer.test"
T0 = datetime(2030, 1, 1, tzinfo=UTC)
LIFETIME = 3600.0
LEEWAY = 60.0
KEEP = timedelta(seconds=LIFETIME + LEEWAY)
DELAY = timedelta(seconds=600)


class FakeClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def pair() -> tuple[SigningKey, SigningKey]:
    return generate_signing_key(T0), generate_signing_key(T0)


@pytest.fixture
def old(pair: tuple[SigningKey, SigningKey]) -> SigningKey:
    return replace(pair[0], created_at=T0)


@pytest.fixture
def rotated(pair: tuple[SigningKey, SigningKey]) -> SigningKey:
    """Added a day after ``old``, signing DELAY later."""
    added = T0 + timedelta(days=1)
    return replace(pair[1], created_at=added, activates_at=added + DELAY)


def ring(keys: list[SigningKey], clock: FakeClock) -> KeyRing:
    return KeyRing(keys, token_lifetime=LIFETIME, leeway=LEEWAY, clock=clock)


def claims(clock: FakeClock) -> dict[str, Any]:
    """Claims issued at the clock's moment, living as long as the ring allows."""
    now = int(clock().timestamp())
    return {"iss": ISSUER, "sub": "client", "iat": now, "exp": now + int(LIFETIME), "jti": "j"}


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def test_a_rotated_key_is_published_before_it_signs(old: SigningKey, rotated: SigningKey) -> None:
    clock = FakeClock(rotated.created_at)
    keys = ring([old, rotated], clock)
    assert keys.kids() == [old.kid, rotated.kid]
    assert [jwk["kid"] for jwk in keys.jwks()["keys"]] == [old.kid, rotated.kid]
    assert keys.active.kid == old.kid
    before = keys.sign(claims(clock))
    assert kid_of(before) == old.kid

    clock.advance(DELAY.total_seconds() - 1)
    assert keys.active.kid == old.kid
    clock.advance(1)
    assert keys.active.kid == rotated.kid
    after = keys.sign(claims(clock))
    assert kid_of(after) == rotated.kid
    assert keys.verify(before, issuer=ISSUER)[1]["sub"] == "client"
    assert keys.verify(after, issuer=ISSUER)[1]["sub"] == "client"


def test_the_superseded_key_stays_published_until_its_tokens_expired(
    old: SigningKey, rotated: SigningKey
) -> None:
    activation = rotated.starts
    clock = FakeClock(activation - timedelta(seconds=1))
    keys = ring([old, rotated], clock)
    token = keys.sign(claims(clock))  # the last token the old key signs
    expires = activation - timedelta(seconds=1) + timedelta(seconds=LIFETIME)
    clock.moment = expires + timedelta(seconds=29)  # within the verification's 30 s leeway
    assert keys.verify(token, issuer=ISSUER)[1]["jti"] == "j"
    clock.moment = activation + KEEP - timedelta(seconds=1)
    assert old.kid in keys.kids()
    clock.moment = activation + KEEP
    assert keys.kids() == [rotated.kid]
    assert [jwk["kid"] for jwk in keys.jwks()["keys"]] == [rotated.kid]
    with pytest.raises(TokenRejected, match="unknown_kid"):
        keys.verify(token, issuer=ISSUER)


def test_phases_name_each_state(old: SigningKey, rotated: SigningKey) -> None:
    added = rotated.created_at
    pending = key_phases([old, rotated], added, KEEP)
    assert (pending[old.kid].state, pending[rotated.kid].state) == ("active", "pending")
    assert pending[old.kid].published_until is None
    assert pending[rotated.kid].published(added)
    later = key_phases([old, rotated], rotated.starts, KEEP)
    assert (later[old.kid].state, later[rotated.kid].state) == ("superseded", "active")
    assert later[old.kid].published_until == rotated.starts + KEEP
    retired = replace(old, retired_at=rotated.starts + timedelta(seconds=5))
    gone = key_phases([retired, rotated], rotated.starts + KEEP, KEEP)
    assert gone[old.kid].state == "retired"
    assert not gone[old.kid].published(rotated.starts + KEEP)


def test_the_next_change_is_the_first_start_retirement_or_unpublishing(
    old: SigningKey, rotated: SigningKey
) -> None:
    added = rotated.created_at
    phases = key_phases([old, rotated], added, KEEP)
    assert next_change([old, rotated], phases, added) == rotated.starts
    later = key_phases([old, rotated], rotated.starts, KEEP)
    assert next_change([old, rotated], later, rotated.starts) == rotated.starts + KEEP
    retiring = replace(rotated, retired_at=rotated.starts + timedelta(seconds=5))
    soon = key_phases([old, retiring], rotated.starts, KEEP)
    assert next_change([old, retiring], soon, rotated.starts) == retiring.retired_at
    settled = rotated.starts + KEEP
    assert next_change([old, rotated], key_phases([old, rotated], settled, KEEP), settled) is None


def test_retiring_stops_signing_at_once_but_keeps_publishing(
    old: SigningKey, rotated: SigningKey
) -> None:
    now = rotated.starts + timedelta(hours=1)
    clock = FakeClock(now)
    newest = replace(rotated, retired_at=now + timedelta(seconds=10))
    keys = ring([old, newest], clock)
    assert keys.active.kid == rotated.kid
    token = keys.sign(claims(clock))
    clock.advance(10)
    assert keys.active.kid == old.kid  # the newest unretired key signs again
    assert kid_of(keys.sign(claims(clock))) == old.kid
    assert set(keys.kids()) == {old.kid, rotated.kid}
    assert keys.verify(token, issuer=ISSUER)[1]["sub"] == "client"
    assert newest.retired_at is not None
    clock.moment = newest.retired_at + KEEP
    assert keys.kids() == [old.kid]


def test_a_pending_key_retired_before_it_signed_is_unpublished_at_once(
    old: SigningKey, rotated: SigningKey
) -> None:
    now = rotated.created_at + timedelta(seconds=30)
    cancelled = replace(rotated, retired_at=now)
    clock = FakeClock(now)
    keys = ring([old, cancelled], clock)
    assert keys.kids() == [old.kid]
    clock.moment = rotated.starts + timedelta(seconds=1)
    assert keys.active.kid == old.kid


def test_no_key_able_to_sign_is_refused(old: SigningKey) -> None:
    with pytest.raises(NoSigningKey):
        ring([replace(old, retired_at=T0 + timedelta(seconds=1))], FakeClock(T0 + KEEP))
    with pytest.raises(NoSigningKey):
        ring([replace(old, activates_at=T0 + DELAY)], FakeClock(T0))

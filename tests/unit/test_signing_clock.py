"""The key ring reads one clock: the one it is given decides which key signs and also when a
token has expired or was issued too far ahead. The moments here are years from the machine's
clock, so a check that read the system clock instead would fail them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from keyloft.domain.signing import (
    CLOCK_SKEW,
    EXPIRY_LEEWAY,
    KeyRing,
    SigningKey,
    TokenRejected,
    generate_signing_key,
)

ISSUER = "http://issuer.test"
AUDIENCE = "http://api.test"
T0 = datetime(2020, 6, 1, tzinfo=UTC)  # long past: a token of that day is expired by now


class FakeClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        self.reads = 0

    def __call__(self) -> datetime:
        self.reads += 1
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return generate_signing_key(T0 - timedelta(days=1), "ES256")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def ring(key: SigningKey, clock: FakeClock) -> KeyRing:
    return KeyRing([key], clock=clock)


def _claims(at: datetime, lifetime: int = 600, **overrides: Any) -> dict[str, Any]:
    now = int(at.timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "client",
        "iat": now,
        "exp": now + lifetime,
        "jti": "j",
    }
    claims.update(overrides)
    return claims


def _reason(ring: KeyRing, token: str) -> str:
    with pytest.raises(TokenRejected) as caught:
        ring.verify(token, issuer=ISSUER, audience=AUDIENCE)
    return str(caught.value)


def test_a_token_of_the_rings_moment_verifies(ring: KeyRing, clock: FakeClock) -> None:
    token = ring.sign(_claims(T0), typ="at+jwt")
    reads = clock.reads
    assert ring.verify(token, issuer=ISSUER, audience=AUDIENCE)[1]["iat"] == int(T0.timestamp())
    assert clock.reads > reads  # verification asked the ring's clock


def test_moving_the_clock_expires_a_token(ring: KeyRing, clock: FakeClock) -> None:
    token = ring.sign(_claims(T0), typ="at+jwt")
    clock.advance(600 + EXPIRY_LEEWAY - 1)
    assert ring.verify(token, issuer=ISSUER, audience=AUDIENCE)[1]["jti"] == "j"
    clock.advance(1)
    assert _reason(ring, token) == "expired"


def test_iat_and_nbf_are_measured_against_the_rings_clock(ring: KeyRing, clock: FakeClock) -> None:
    ahead = T0 + timedelta(seconds=CLOCK_SKEW + 60)
    for early in (_claims(ahead), _claims(T0, nbf=int(ahead.timestamp()))):
        token = ring.sign(early, typ="at+jwt")
        assert _reason(ring, token) == "invalid"
        clock.moment = ahead - timedelta(seconds=CLOCK_SKEW)
        assert ring.verify(token, issuer=ISSUER, audience=AUDIENCE)[1]["sub"] == "client"
        clock.moment = T0


def test_claims_checks_of_v3_tokens_follow_the_clock_too(ring: KeyRing, clock: FakeClock) -> None:
    token = ring.sign(_claims(T0, lifetime=60))
    assert ring.verify(token, issuer=ISSUER)[0] == "JWT"
    clock.advance(60 + EXPIRY_LEEWAY)
    assert _reason(ring, token) == "expired"


def test_without_a_clock_the_system_clock_decides(key: SigningKey) -> None:
    ring = KeyRing([key])
    assert _reason(ring, ring.sign(_claims(T0), typ="at+jwt")) == "expired"
    now = datetime.now(UTC)
    assert ring.verify(ring.sign(_claims(now), typ="at+jwt"), issuer=ISSUER, audience=AUDIENCE)

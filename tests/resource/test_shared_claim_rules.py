"""Keyloft's key ring and the resource library judge a token's claims by one set of rules
(``keyloft.domain.signing.claims``), each reporting the fault in its own terms. Both sides
run on fake clocks set years from the machine's clock: a side that read the system clock
would refuse every token here as expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from keyloft.domain.signing import KeyRing, SigningKey, TokenRejected, generate_signing_key
from keyloft.domain.signing.claims import ClaimFault, ClaimRejected, check_claims
from keyloft.resource import TokenInvalid, TokenVerifier
from tests.support.resource import AUDIENCE, ISSUER, JWKS_URL, FakeJwks, oauth_claims

T0 = datetime(2020, 6, 1, tzinfo=UTC)
NOW = int(T0.timestamp())

RING_REASONS: dict[ClaimFault | None, str] = {
    None: "accepted",
    "expired": "expired",
    "missing": "invalid",
    "malformed": "invalid",
    "issuer": "invalid",
    "audience": "invalid",
    "not_yet_valid": "invalid",
}
RESOURCE_REASONS: dict[ClaimFault | None, str] = {
    None: "accepted",
    "expired": "expired",
    "missing": "claims",
    "malformed": "claims",
    "issuer": "issuer",
    "audience": "audience",
    "not_yet_valid": "not_yet_valid",
}


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return generate_signing_key(T0 - timedelta(days=1), "ES256")


@pytest.fixture
def ring(key: SigningKey) -> KeyRing:
    return KeyRing([key], clock=lambda: T0)


@pytest.fixture
def verifier(key: SigningKey) -> TokenVerifier:
    jwks = FakeJwks({"keys": [key.public_jwk()]})
    return TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=jwks, clock=T0.timestamp)


def _fault(claims: dict[str, Any]) -> ClaimFault | None:
    try:
        check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=T0.timestamp())
    except ClaimRejected as rejected:
        return rejected.fault
    return None


def _ring_verdict(ring: KeyRing, token: str) -> str:
    try:
        ring.verify(token, issuer=ISSUER, audience=AUDIENCE)
    except TokenRejected as rejected:
        return str(rejected)
    return "accepted"


async def _resource_verdict(verifier: TokenVerifier, token: str) -> str:
    try:
        await verifier.verify(token)
    except TokenInvalid as invalid:
        return invalid.reason
    return "accepted"


@pytest.mark.parametrize(
    ("overrides", "fault"),
    [
        pytest.param({}, None, id="acceptable"),
        pytest.param({"exp": NOW - 10}, None, id="expired-within-the-leeway"),
        pytest.param({"exp": NOW - 30}, "expired", id="expired-at-the-leeway"),
        pytest.param({"exp": "soon"}, "malformed", id="exp-text"),
        pytest.param({"iss": "https://evil.test"}, "issuer", id="another-issuer"),
        pytest.param({"aud": "https://api.test"}, "audience", id="another-audience"),
        pytest.param({"aud": [AUDIENCE, 1]}, "audience", id="audience-list-not-strings"),
        pytest.param({"aud": None}, "missing", id="no-audience"),
        pytest.param({"jti": None}, "missing", id="no-jti"),
        pytest.param({"jti": 5}, "malformed", id="jti-number"),
        pytest.param({"iat": NOW + 120}, None, id="iat-at-the-skew"),
        pytest.param({"iat": NOW + 121}, "not_yet_valid", id="iat-beyond-the-skew"),
        pytest.param({"nbf": NOW + 121}, "not_yet_valid", id="nbf-beyond-the-skew"),
        pytest.param({"iat": True}, "malformed", id="iat-bool"),
    ],
)
async def test_both_sides_apply_the_same_rule(
    ring: KeyRing,
    verifier: TokenVerifier,
    overrides: dict[str, Any],
    fault: ClaimFault | None,
) -> None:
    claims = oauth_claims(**{"iat": NOW, "exp": NOW + 600, **overrides})
    assert _fault(claims) == fault
    token = ring.sign(claims, typ="at+jwt")
    assert _ring_verdict(ring, token) == RING_REASONS[fault]
    assert await _resource_verdict(verifier, token) == RESOURCE_REASONS[fault]


async def test_both_sides_expire_a_token_when_their_clock_moves(key: SigningKey) -> None:
    moment = [T0]
    ring = KeyRing([key], clock=lambda: moment[0])
    jwks = FakeJwks({"keys": [key.public_jwk()]})
    verifier = TokenVerifier(
        JWKS_URL, ISSUER, AUDIENCE, fetch=jwks, cache_size=0, clock=lambda: moment[0].timestamp()
    )
    token = ring.sign(oauth_claims(iat=NOW, exp=NOW + 60), typ="at+jwt")
    moment[0] = T0 + timedelta(seconds=89)
    assert (_ring_verdict(ring, token), await _resource_verdict(verifier, token)) == (
        "accepted",
        "accepted",
    )
    moment[0] = T0 + timedelta(seconds=90)
    assert (_ring_verdict(ring, token), await _resource_verdict(verifier, token)) == (
        "expired",
        "expired",
    )

"""The shared claim rules, as pure functions of the claims and a given moment: which rule
refuses what, at the exact boundaries of the leeway and the clock skew."""

from __future__ import annotations

from typing import Any

import pytest

from keyloft.domain.signing.claims import (
    AUDIENCE_UNCHECKED,
    CLOCK_SKEW,
    EXPIRY_LEEWAY,
    REQUIRED_CLAIMS,
    ClaimFault,
    ClaimRejected,
    ExpectedAudience,
    check_audience,
    check_claims,
)

ISSUER = "https://issuer.test"
AUDIENCE = "https://api.test"
NOW = 1_900_000_000.0  # a moment of the tests' own, far from the machine's clock


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "client-key",
        "iat": int(NOW),
        "exp": int(NOW) + 600,
        "jti": "jti-1",
        "aud": AUDIENCE,
    }
    claims.update(overrides)
    return claims


def _fault(claims: dict[str, Any], audience: ExpectedAudience = AUDIENCE) -> ClaimFault | None:
    try:
        check_claims(claims, issuer=ISSUER, audience=audience, now=NOW)
    except ClaimRejected as rejected:
        return rejected.fault
    return None


def test_acceptable_claims_pass() -> None:
    assert _fault(_claims()) is None


def test_the_shared_constants() -> None:
    assert (EXPIRY_LEEWAY, CLOCK_SKEW) == (30.0, 120.0)
    assert REQUIRED_CLAIMS == ("exp", "iat", "iss", "sub", "jti")


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_a_required_claim_absent_or_null_is_missing(claim: str) -> None:
    absent = _claims()
    del absent[claim]
    assert _fault(absent) == "missing"
    assert _fault(_claims(**{claim: None})) == "missing"


@pytest.mark.parametrize(
    ("exp", "fault"),
    [
        pytest.param(int(NOW - EXPIRY_LEEWAY), "expired", id="at-the-leeway"),
        pytest.param(int(NOW - EXPIRY_LEEWAY) + 1, None, id="inside-the-leeway"),
        pytest.param(int(NOW) - 3600, "expired", id="an-hour-ago"),
        pytest.param(float(NOW) + 600.9, None, id="float-truncated"),
        pytest.param("soon", "malformed", id="text"),
        pytest.param([1], "malformed", id="list"),
        pytest.param(float("inf"), "malformed", id="infinite"),
    ],
)
def test_expiry(exp: object, fault: ClaimFault | None) -> None:
    assert _fault(_claims(exp=exp)) == fault


def test_a_larger_leeway_accepts_a_later_expiry() -> None:
    claims = _claims(exp=int(NOW) - 100)
    with pytest.raises(ClaimRejected, match="expired"):
        check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=NOW)
    check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=NOW, leeway=101)


@pytest.mark.parametrize("iss", ["https://other.test", ISSUER + "/", 7, ["https://issuer.test"]])
def test_another_issuer_is_refused(iss: object) -> None:
    assert _fault(_claims(iss=iss)) == "issuer"


@pytest.mark.parametrize(
    ("aud", "audience", "fault"),
    [
        pytest.param(AUDIENCE, AUDIENCE, None, id="named"),
        pytest.param(["https://x.test", AUDIENCE], AUDIENCE, None, id="named-in-a-list"),
        pytest.param("https://x.test", AUDIENCE, "audience", id="another"),
        pytest.param(["https://x.test"], AUDIENCE, "audience", id="another-in-a-list"),
        pytest.param([AUDIENCE, 7], AUDIENCE, "audience", id="list-not-all-strings"),
        pytest.param({"aud": AUDIENCE}, AUDIENCE, "audience", id="object"),
        pytest.param(None, AUDIENCE, "missing", id="absent"),
        pytest.param("", AUDIENCE, "missing", id="empty-string"),
        pytest.param([], AUDIENCE, "missing", id="empty-list"),
        pytest.param(None, None, None, id="none-expected-none-given"),
        pytest.param(AUDIENCE, None, "audience", id="none-expected-one-given"),
    ],
)
def test_the_audience_rule(aud: object, audience: str | None, fault: ClaimFault | None) -> None:
    found: ClaimFault | None = None
    try:
        check_audience(aud, audience)
    except ClaimRejected as rejected:
        found = rejected.fault
    assert found == fault
    claims = _claims(aud=aud) if aud is not None else _claims()
    if aud is None:
        del claims["aud"]
    assert _fault(claims, audience) == fault


def test_an_unchecked_audience_is_not_looked_at() -> None:
    assert _fault(_claims(aud="https://x.test"), AUDIENCE_UNCHECKED) is None
    assert _fault(_claims(aud=[7]), AUDIENCE_UNCHECKED) is None


@pytest.mark.parametrize("claim", ["sub", "jti"])
def test_sub_and_jti_must_be_strings(claim: str) -> None:
    assert _fault(_claims(**{claim: 7})) == "malformed"
    assert _fault(_claims(**{claim: ["x"]})) == "malformed"


@pytest.mark.parametrize("claim", ["iat", "nbf"])
@pytest.mark.parametrize(
    ("value", "fault"),
    [
        pytest.param(NOW + CLOCK_SKEW, None, id="at-the-skew"),
        pytest.param(NOW + CLOCK_SKEW + 1, "not_yet_valid", id="beyond-the-skew"),
        pytest.param(NOW - 3600, None, id="in-the-past"),
        pytest.param(True, "malformed", id="bool"),
        pytest.param("0", "malformed", id="text"),
    ],
)
def test_issued_and_not_before_within_the_skew(
    claim: str, value: object, fault: ClaimFault | None
) -> None:
    assert _fault(_claims(**{claim: value})) == fault


def test_a_smaller_skew_refuses_sooner() -> None:
    claims = _claims(iat=int(NOW) + 10)
    check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=NOW)
    with pytest.raises(ClaimRejected, match="not_yet_valid"):
        check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=NOW, skew=5)


def test_the_time_is_the_one_given() -> None:
    claims = _claims()
    later = NOW + 600 + EXPIRY_LEEWAY
    with pytest.raises(ClaimRejected, match="expired"):
        check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=later)
    earlier = NOW - CLOCK_SKEW - 1
    with pytest.raises(ClaimRejected, match="not_yet_valid"):
        check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=earlier)


def test_rules_apply_in_order() -> None:
    """Missing, then exp, then iss, then aud, then sub/jti, then iat/nbf: the first that
    refuses names the fault, as both verifiers report it."""
    everything_wrong = _claims(
        exp=int(NOW) - 3600, iss="https://x.test", aud="https://x.test", sub=1, iat=NOW * 2
    )
    assert _fault(everything_wrong) == "expired"
    assert _fault({**everything_wrong, "exp": int(NOW) + 60}) == "issuer"
    assert _fault({**everything_wrong, "exp": int(NOW) + 60, "iss": ISSUER}) == "audience"
    fixed_aud = {**everything_wrong, "exp": int(NOW) + 60, "iss": ISSUER, "aud": AUDIENCE}
    assert _fault(fixed_aud) == "malformed"
    assert _fault({**fixed_aud, "sub": "client-key"}) == "not_yet_valid"
    del fixed_aud["jti"]
    assert _fault(fixed_aud) == "missing"

"""The registered claims of an access token and when they make it acceptable: one set of
rules for Keyloft's own verification (``KeyRing.verify``) and for resource servers verifying
offline (``keyloft.resource``), so that the two cannot disagree.

As RFC 7519 and RFC 9068 want them: the required claims present and not null; ``exp`` an
integer no more than a leeway in the past; ``iss`` the issuer; ``aud`` naming the expected
audience (RFC 9068 tokens); ``sub`` and ``jti`` strings; ``iat`` and ``nbf`` numbers at most a
clock skew ahead, since the node that issued the token may have a clock running ahead of the
verifier's. The time is passed in, so each side reads it from its own injected clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, Final, Literal

EXPIRY_LEEWAY: Final = 30.0
"""Seconds past ``exp`` during which a token is still accepted."""

CLOCK_SKEW: Final = 120.0  # nodes' clocks may disagree by ±90 s (SECURITY.md 33)
"""Seconds ``iat`` and ``nbf`` may lie ahead of the verifier's clock."""

REQUIRED_CLAIMS: Final = ("exp", "iat", "iss", "sub", "jti")

ClaimFault = Literal["missing", "malformed", "expired", "not_yet_valid", "issuer", "audience"]


class ClaimRejected(Exception):
    """A claim makes the token unacceptable; ``fault`` names the rule that refused it, for
    each verifier to report in its own terms."""

    def __init__(self, fault: ClaimFault) -> None:
        super().__init__(fault)
        self.fault: ClaimFault = fault


class _Unchecked(Enum):
    AUDIENCE = "unchecked"


AUDIENCE_UNCHECKED: Final = _Unchecked.AUDIENCE
"""As the expected audience: ``aud`` is not looked at (v3 tokens carry none)."""

ExpectedAudience = str | None | Literal[_Unchecked.AUDIENCE]


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: ExpectedAudience,
    now: float,
    leeway: float = EXPIRY_LEEWAY,
    skew: float = CLOCK_SKEW,
) -> None:
    """Raises ClaimRejected unless ``claims`` are acceptable at ``now`` (epoch seconds) for
    ``issuer`` and ``audience``; the rules are checked in the order the module describes."""
    for claim in REQUIRED_CLAIMS:
        if claims.get(claim) is None:
            raise ClaimRejected("missing")
    try:
        exp = int(claims["exp"])
    except (ValueError, TypeError, OverflowError):
        raise ClaimRejected("malformed") from None
    if exp <= now - leeway:
        raise ClaimRejected("expired")
    if claims["iss"] != issuer or not isinstance(claims["iss"], str):
        raise ClaimRejected("issuer")
    if audience is not AUDIENCE_UNCHECKED:
        check_audience(claims.get("aud"), audience)
    if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str):
        raise ClaimRejected("malformed")
    latest = now + skew
    for claim in ("iat", "nbf"):
        value = claims.get(claim, 0)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ClaimRejected("malformed")
        if value > latest:
            raise ClaimRejected("not_yet_valid")


def check_audience(aud: object, audience: str | None) -> None:
    """The audience rule: ``aud`` (a string or a list of strings) must name ``audience``; a
    token without one is refused when an audience is expected, and a token with one when none
    is (``audience`` None)."""
    if audience is None:
        if aud:
            raise ClaimRejected("audience")
        return
    if not aud:
        raise ClaimRejected("missing")
    named = [aud] if isinstance(aud, str) else aud
    if not isinstance(named, list) or not all(isinstance(item, str) for item in named):
        raise ClaimRejected("audience")
    if audience not in named:
        raise ClaimRejected("audience")

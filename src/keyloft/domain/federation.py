"""Federated credentials: trust rules that accept another issuer's token as a client's
assertion (workload identity: a CI pipeline's OIDC token, a Kubernetes service-account token,
a SPIFFE JWT-SVID, a partner's own identity provider).

A rule names the ``issuer`` and the ``subject`` it trusts, the audiences the token must be
meant for (by default this deployment's issuer), and top-level claims that must equal given
values (GitHub's ``repository`` and ``ref``, say). Nothing here fetches anything: ``mismatch``
judges claims already verified against the issuer's keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from keyloft.domain.errors import ValidationFailed

MAX_RULES = 20
MAX_NAME = 100
MAX_TEXT = 512
MAX_AUDIENCES = 10
MAX_CLAIMS = 20
MAX_AGE_SECONDS = 31 * 24 * 3600
MAX_URL = 512
# Registered claims a rule's ``claims`` may not restate: the rule's own fields say them.
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})

ClaimValue = str | int | bool


@dataclass(frozen=True, slots=True)
class FederatedCredential:
    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...] = ()
    """Empty: the deployment's own issuer."""
    claims: tuple[tuple[str, ClaimValue], ...] = ()
    max_age_seconds: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The rule as the API shows and stores it."""
        view: dict[str, Any] = {
            "name": self.name,
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": list(self.audiences),
            "claims": dict(self.claims),
        }
        if self.max_age_seconds is not None:
            view["maxAgeSeconds"] = self.max_age_seconds
        return view


def check_url(value: Any, field: str, *, allow_http: bool) -> str:
    """An absolute https URL (http too when allowed) without credentials or a fragment."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_URL:
        raise ValidationFailed(
            f"{field} must be a URL of at most {MAX_URL} characters.", field=field
        )
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:  # such as an unclosed IPv6 bracket
        hostname = None
    schemes = ("https", "http") if allow_http else ("https",)
    if hostname is None or parts.scheme not in schemes:
        raise ValidationFailed(
            f"{field} must be an {' or '.join(schemes)} URL with a host.", field=field
        )
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise ValidationFailed(f"{field} must not hold credentials or a fragment.", field=field)
    if any(ord(ch) <= 0x20 for ch in value):
        raise ValidationFailed(
            f"{field} must not contain spaces or control characters.", field=field
        )
    return value


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValidationFailed(f"{field} must be 1 to {limit} characters.", field=field)
    if any(ord(ch) < 0x20 for ch in value):
        raise ValidationFailed(f"{field} contains control characters.", field=field)
    return value


def _claims(value: Any, field: str) -> tuple[tuple[str, ClaimValue], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"{field} must be an object of claim names to values.", field=field)
    if len(value) > MAX_CLAIMS:
        raise ValidationFailed(f"{field} allows at most {MAX_CLAIMS} claims.", field=field)
    checked: list[tuple[str, ClaimValue]] = []
    for name, expected in value.items():
        where = f"{field}.{name}"
        _text(name, where, MAX_NAME)
        if name in RESERVED_CLAIMS:
            raise ValidationFailed(
                f"{where}: {name} is set by the rule's own fields, not by claims.", field=where
            )
        if isinstance(expected, str):
            _text(expected, where, MAX_TEXT)
        elif not isinstance(expected, bool | int):
            raise ValidationFailed(
                f"{where} must be a string, an integer or a boolean.", field=where
            )
        checked.append((name, expected))
    return tuple(sorted(checked))


def check_rules(value: Any, field: str, *, allow_http: bool) -> tuple[FederatedCredential, ...]:
    """A client's federated credentials, checked; ``ValidationFailed`` names the field."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValidationFailed(f"{field} must be a list of rules.", field=field)
    if len(value) > MAX_RULES:
        raise ValidationFailed(f"{field} allows at most {MAX_RULES} rules.", field=field)
    rules: list[FederatedCredential] = []
    for index, raw in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(raw, Mapping):
            raise ValidationFailed(f"{where} must be an object.", field=where)
        name = _text(raw.get("name"), f"{where}.name", MAX_NAME)
        if any(rule.name == name for rule in rules):
            raise ValidationFailed(f"{where}.name {name!r} is used twice.", field=f"{where}.name")
        audiences = raw.get("audiences") or []
        if not isinstance(audiences, list) or len(audiences) > MAX_AUDIENCES:
            raise ValidationFailed(
                f"{where}.audiences must be a list of at most {MAX_AUDIENCES} strings.",
                field=f"{where}.audiences",
            )
        max_age = raw.get("maxAgeSeconds")
        if max_age is not None and (
            isinstance(max_age, bool)
            or not isinstance(max_age, int)
            or not 1 <= max_age <= MAX_AGE_SECONDS
        ):
            raise ValidationFailed(
                f"{where}.maxAgeSeconds must be between 1 and {MAX_AGE_SECONDS}.",
                field=f"{where}.maxAgeSeconds",
            )
        rules.append(
            FederatedCredential(
                name=name,
                issuer=check_url(raw.get("issuer"), f"{where}.issuer", allow_http=allow_http),
                subject=_text(raw.get("subject"), f"{where}.subject", MAX_TEXT),
                audiences=tuple(
                    _text(audience, f"{where}.audiences[{i}]", MAX_TEXT)
                    for i, audience in enumerate(audiences)
                ),
                claims=_claims(raw.get("claims"), f"{where}.claims"),
                max_age_seconds=max_age,
            )
        )
    return tuple(rules)


def rules_from_stored(stored: Sequence[Mapping[str, Any]]) -> tuple[FederatedCredential, ...]:
    """Rules as stored (checked when they were written)."""
    return tuple(
        FederatedCredential(
            name=raw["name"],
            issuer=raw["issuer"],
            subject=raw["subject"],
            audiences=tuple(raw.get("audiences") or ()),
            claims=tuple(sorted((raw.get("claims") or {}).items())),
            max_age_seconds=raw.get("maxAgeSeconds"),
        )
        for raw in stored
    )


def mismatch(
    rule: FederatedCredential,
    claims: Mapping[str, Any],
    *,
    default_audience: str,
    now: float,
    skew: float,
) -> str | None:
    """Why verified ``claims`` do not satisfy ``rule`` (a reason for logs), or None."""
    if claims.get("iss") != rule.issuer:
        return "issuer"
    if claims.get("sub") != rule.subject:
        return "subject"
    audience = claims.get("aud")
    held = [audience] if isinstance(audience, str) else audience
    wanted = rule.audiences or (default_audience,)
    if not isinstance(held, list) or not any(aud in held for aud in wanted):
        return "audience"
    for name, expected in rule.claims:
        found = claims.get(name)
        # ``True == 1`` in Python; a claim must match in JSON type as well as value.
        if type(found) is not type(expected) or found != expected:
            return "claim"
    if rule.max_age_seconds is not None:
        issued = claims.get("iat")
        if not isinstance(issued, int | float) or now - issued > rule.max_age_seconds + skew:
            return "too_old"
    return None

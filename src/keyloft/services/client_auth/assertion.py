"""Client assertions (RFC 7521 §4.2, RFC 7523 §2.2): reading one from a token request and
verifying its signature and times against the node's clock.

Both ways of presenting one read alike: RFC 6749's form (``client_assertion_type`` must be
the JWT bearer type, ``client_assertion``, optionally ``client_id``) and the v3 body
(``{"key", "assertion"}``). Every failure is an ``AssertionRefused`` whose reason is logged and
counted, never told: the caller sees what a wrong secret shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from keyloft.domain.client_keys import (
    ASSERTION_ALGORITHMS,
    ClientKey,
    candidates,
    verified_payload,
)

__all__ = ["JWT_BEARER", "SKEW", "Assertion", "candidates", "read", "refuse"]
from keyloft.domain.errors import AssertionRefused
from keyloft.domain.oauth import InvalidRequest
from keyloft.services.client_auth.request import ClientAuthRequest

log = logging.getLogger("keyloft.client_auth")

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SKEW = 60
"""Seconds of clock difference tolerated between the client and Keyloft."""
MAX_ASSERTION = 16 * 1024
MAX_JTI = 256
# Only the signature is checked by the JOSE library; times are checked here against the node's
# clock. Its own instance, which also knows RFC 9864's name "Ed25519" for EdDSA over Ed25519.


def refuse(reason: str, client: str | None = None) -> AssertionRefused:
    """The refusal to raise, logged with its reason (never the assertion itself)."""
    log.info("client assertion refused", extra={"reason": reason, "client_id": client})
    return AssertionRefused(reason)


def present(params: Mapping[str, str]) -> bool:
    return (
        "client_assertion" in params or "client_assertion_type" in params or ("assertion" in params)
    )


@dataclass(slots=True)
class Assertion:
    token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    """Not verified yet: read only to find the client and its keys."""
    named_client: str | None
    """The client the request names besides the assertion (``client_id``, the v3 ``key``)."""

    @property
    def algorithm(self) -> str:
        alg = self.header.get("alg")
        return alg if isinstance(alg, str) else ""

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def read(request: ClientAuthRequest) -> Assertion:
    params = request.params
    if "client_secret" in params or "secret" in params:
        raise InvalidRequest("Use exactly one client authentication method.")
    if "assertion" in params:  # the v3 body
        token, named = params["assertion"], params.get("key")
    else:
        named = params.get("client_id") or None
        if params.get("client_assertion_type") != JWT_BEARER:
            raise refuse("assertion_type", named)
        token = params.get("client_assertion", "")
    if not token or len(token) > MAX_ASSERTION:
        raise refuse("malformed", named)
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise refuse("malformed", named) from None
    return Assertion(token, header, claims, named)


def verify_signature(
    assertion: Assertion, keys: Sequence[ClientKey], client: str | None
) -> tuple[dict[str, Any], ClientKey]:
    """The claims, verified by one of ``keys`` of the assertion's algorithm (never ``none``,
    never HMAC, never a key of another family)."""
    algorithm = assertion.algorithm
    if algorithm not in ASSERTION_ALGORITHMS:
        raise refuse("algorithm", client)
    for key in candidates(keys, assertion.kid, algorithm):
        try:
            payload = verified_payload(assertion.token, key, algorithm)
            claims = json.loads(payload)
        except (jwt.PyJWTError, ValueError):
            continue
        if not isinstance(claims, dict):
            break
        return claims, key
    raise refuse("signature" if candidates(keys, None, algorithm) else "unknown_key", client)


def check_times(
    claims: Mapping[str, Any], now: float, client: str | None, *, max_lifetime: float | None
) -> float:
    """``exp`` required and not passed, ``nbf`` and ``iat`` not ahead (each within ``SKEW``);
    with ``max_lifetime``, ``exp`` at most that far ahead. Returns ``exp``."""
    raw = claims.get("exp")
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        raise refuse("no_exp", client)
    expires = float(raw)
    if now > expires + SKEW:
        raise refuse("expired", client)
    if max_lifetime is not None and expires > now + max_lifetime + SKEW:
        raise refuse("exp_too_far", client)
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is None:
            continue
        if not _number(value):
            raise refuse(f"bad_{name}", client)
        if float(value) > now + SKEW:
            raise refuse(f"{name}_in_future", client)
    return expires


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def audience_includes(claims: Mapping[str, Any], accepted: Sequence[str]) -> bool:
    audience = claims.get("aud")
    held = [audience] if isinstance(audience, str) else audience
    return isinstance(held, list) and any(aud in held for aud in accepted if aud)


def replay_key(client_id: int, jti: str) -> str:
    """The single-use key of a client's assertion: a digest, so a ``jti`` is stored blind."""
    return hashlib.sha256(f"{client_id}\x00{jti}".encode()).hexdigest()

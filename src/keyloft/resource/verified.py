"""What a verified Keyloft access token says, read from its claims: who it is for (client,
organisation, default till) and what it may do (its grants).

Both token kinds are read here: RFC 9068 tokens (``typ: at+jwt``) name the client by its key;
v3 tokens (``typ: JWT``) say ``token_use: token_access`` and carry the numeric client id and
the client key. A sender-constrained token confirms its holder's key in ``cnf`` (RFC 7800;
``cnf.jkt`` for DPoP, RFC 9449 §6; ``cnf.x5t#S256`` for a mutual-TLS client certificate,
RFC 8705 §3.1); whether it was presented with that key or certificate is
``keyloft.resource.dpop``'s check. Claims that do not fit are refused as
``TokenInvalid("claims")``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from keyloft.domain.scopes import Grant
from keyloft.domain.tokens import TOKEN_USE, grants_from_claims

OAUTH_TYP = "at+jwt"
V3_TYP = "JWT"
# An RFC 7638 SHA-256 thumbprint: 32 bytes in unpadded base64url.
JKT = re.compile(r"[A-Za-z0-9_-]{43}")
X5T_S256 = "x5t#S256"
"""The ``cnf`` member naming a client certificate by the SHA-256 of its DER (RFC 8705 §3.1),
32 bytes in unpadded base64url like ``JKT``."""


class TokenInvalid(Exception):
    """The token is not acceptable; ``reason`` is for logs and metrics, not for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified token says: who it is for and what it may do."""

    typ: str
    claims: Mapping[str, Any]
    client_key: str
    org_id: int
    default_till: int | None
    grants: tuple[Grant, ...]
    expires_at: int
    cnf: Mapping[str, Any] | None = None
    """The confirmation (RFC 7800) of a sender-constrained token, read-only; None for a bearer
    token."""

    @property
    def oauth(self) -> bool:
        """An RFC 9068 token (from ``/oauth2/token``) rather than a v3 one."""
        return self.typ == OAUTH_TYP

    @property
    def jkt(self) -> str | None:
        """The thumbprint of the DPoP key the token is bound to (``cnf.jkt``), if any."""
        jkt = self.cnf.get("jkt") if self.cnf is not None else None
        return jkt if isinstance(jkt, str) else None

    @property
    def x5t_s256(self) -> str | None:
        """The ``x5t#S256`` of the client certificate the token is bound to (mutual TLS,
        RFC 8705 §3), if any."""
        x5t = self.cnf.get(X5T_S256) if self.cnf is not None else None
        return x5t if isinstance(x5t, str) else None


def read_verified(typ: str, claims: dict[str, Any]) -> VerifiedToken:
    """The identity and grants of verified ``claims``; TokenInvalid when they are malformed."""
    sub = claims.get("sub")
    if typ == OAUTH_TYP:
        client_key = claims.get("client_id")
    else:
        client_id = claims.get("client_id")
        if claims.get("token_use") != TOKEN_USE or type(client_id) is not int:
            raise TokenInvalid("claims")
        client_key = claims.get("client_key")
    org_id, till, exp = claims.get("org_id"), claims.get("default_till"), claims["exp"]
    if not isinstance(client_key, str) or client_key != sub or type(org_id) is not int:
        raise TokenInvalid("claims")
    if till is not None and type(till) is not int:
        raise TokenInvalid("claims")
    grants = grants_from_claims(claims)
    if grants is None:
        raise TokenInvalid("claims")
    cnf = _confirmation(claims)
    return VerifiedToken(
        typ=typ,
        claims=MappingProxyType(claims),
        client_key=client_key,
        org_id=org_id,
        default_till=till,
        grants=grants,
        expires_at=int(exp),
        cnf=cnf,
    )


def _confirmation(claims: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``cnf`` read-only, or None without one; a present one must be a non-empty object whose
    ``jkt`` and ``x5t#S256``, if any, are SHA-256 thumbprints."""
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if not isinstance(cnf, dict) or not cnf:
        raise TokenInvalid("claims")
    for member in ("jkt", X5T_S256):
        if member in cnf and not (isinstance(cnf[member], str) and JKT.fullmatch(cnf[member])):
            raise TokenInvalid("claims")
    return MappingProxyType(dict(cnf))

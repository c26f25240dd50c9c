"""Signing keys: what one key is (its kid, algorithm, private key and the moments it starts
and is retired), how a new key is made and a stored one loaded back, and how its public half
is published as a JWK.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cryptography.hazmat.primitives import serialization

from keyloft.domain.signing.algorithms import DEFAULT_ALGORITHM, PrivateKey, scheme_of

KID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""The shape of a key id: every kid Keyloft makes fits it, and a verifier accepts no other."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key starts signing at ``activates_at`` (published before, so verifiers have it) and
    stops when a newer key starts or it is retired; it stays published until every token it
    may have signed has expired."""

    kid: str
    algorithm: str
    private_key: PrivateKey
    created_at: datetime
    activates_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def starts(self) -> datetime:
        return self.activates_at or self.created_at

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, algorithm={self.algorithm!r})"

    def public_jwk(self) -> dict[str, Any]:
        scheme = scheme_of(self.algorithm)
        jwk: dict[str, Any] = json.loads(scheme.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return jwk

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def generate_signing_key(now: datetime, algorithm: str = DEFAULT_ALGORITHM) -> SigningKey:
    key = scheme_of(algorithm).generate()
    kid = now.strftime("%Y%m%d") + "-" + secrets.token_urlsafe(6)
    return SigningKey(kid=kid, algorithm=algorithm, private_key=key, created_at=now)


def load_signing_key(
    kid: str,
    pem: bytes,
    created_at: datetime,
    activates_at: datetime | None = None,
    retired_at: datetime | None = None,
    *,
    algorithm: str = DEFAULT_ALGORITHM,
) -> SigningKey:
    """A stored key; refused unless it is a key of its recorded ``algorithm``."""
    scheme = scheme_of(algorithm)
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, PrivateKey) or not scheme.fits(key):
        raise ValueError(f"signing key {kid} is not a key for {algorithm}")
    return SigningKey(kid, algorithm, key, created_at, activates_at, retired_at)

"""Signing keys and the key ring that signs and verifies access tokens (RS256, 2048-bit)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"
RSA_BITS = 2048
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: rsa.RSAPrivateKey
    created_at: datetime

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, algorithm={self.algorithm!r})"

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return jwk

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def generate_signing_key(now: datetime) -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    kid = now.strftime("%Y%m%d") + "-" + secrets.token_urlsafe(6)
    return SigningKey(kid=kid, algorithm=ALGORITHM, private_key=key, created_at=now)


def load_signing_key(kid: str, pem: bytes, created_at: datetime) -> SigningKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"signing key {kid} is not an RSA key")
    return SigningKey(kid=kid, algorithm=ALGORITHM, private_key=key, created_at=created_at)


class TokenRejected(Exception):
    """Verification failed; the reason is for logs and metrics, never for the caller."""


class KeyRing:
    """The keys of this deployment: the newest signs, all published ones verify."""

    def __init__(self, keys: Iterable[SigningKey]) -> None:
        ordered = sorted(keys, key=lambda k: k.created_at)
        if not ordered:
            raise ValueError("no signing key: run `keyloft init`")
        self._by_kid = {key.kid: key for key in ordered}
        self._public = {kid: key.private_key.public_key() for kid, key in self._by_kid.items()}
        self.active = ordered[-1]
        self._headers = {"kid": self.active.kid}

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active.kid!r}, kids={list(self._by_kid)!r})"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self._by_kid.values()]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.active.private_key, algorithm=ALGORITHM, headers=self._headers
        )

    def verify(self, token: str, *, issuer: str, leeway: float = 30.0) -> dict[str, Any]:
        """Signature, algorithm, ``kid``, ``iss``, ``exp``/``iat`` checked, or TokenRejected."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected("malformed") from exc
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise TokenRejected("header")
        public = self._public.get(kid)
        if public is None:
            raise TokenRejected("unknown_kid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                public,
                algorithms=[ALGORITHM],
                issuer=issuer,
                leeway=leeway,
                options={"require": ["exp", "iat", "iss", "sub", "jti"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected("invalid") from exc
        return claims

"""Secretless (private_key_jwt) clients for the interop tests: a freshly generated key pair per
client, its public half registered through the API, its private half handed to the library
under test as a JWK."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.support.api import OrgFixture, client_body

PRIVATE_KEY_JWT = "private_key_jwt"
_names = count(1)


@dataclass(frozen=True)
class KeyPair:
    """One signing key: ``private_jwk`` and ``public_jwk`` share ``kid`` and ``alg``."""

    alg: str
    private_jwk: dict[str, Any] = field(repr=False)
    public_jwk: dict[str, Any]

    @property
    def kid(self) -> str:
        return str(self.public_jwk["kid"])


@dataclass(frozen=True)
class SecretlessClient:
    client_key: str
    key: KeyPair
    """The registered key; the client has no secret."""


def generate_key(alg: str, *, declare_alg: bool = True) -> KeyPair:
    """A new key pair for ``alg``: RS256 (RSA 2048), ES256 (P-256), ES384 (P-384), EdDSA
    (Ed25519). Its JWKs name ``alg`` unless ``declare_alg`` is false (then Keyloft lets the
    key verify every algorithm of its type)."""
    if alg == "RS256":
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private, public = (
            RSAAlgorithm.to_jwk(rsa_key, as_dict=True),
            RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True),
        )
    elif alg in ("ES256", "ES384"):
        curve = ec.SECP256R1() if alg == "ES256" else ec.SECP384R1()
        ec_key = ec.generate_private_key(curve)
        private, public = (
            ECAlgorithm.to_jwk(ec_key, as_dict=True),
            ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True),
        )
    elif alg == "EdDSA":
        ed_key = ed25519.Ed25519PrivateKey.generate()
        private, public = (
            OKPAlgorithm.to_jwk(ed_key, as_dict=True),
            OKPAlgorithm.to_jwk(ed_key.public_key(), as_dict=True),
        )
    else:
        raise ValueError(f"no key type for {alg}")
    kid = f"{alg.lower()}-{next(_names)}"
    metadata = {"kid": kid, "use": "sig", **({"alg": alg} if declare_alg else {})}
    return KeyPair(alg, {**private, **metadata}, {**public, **metadata})


def impostor(key: KeyPair) -> KeyPair:
    """A different key of the same algorithm that claims ``key``'s ``kid``."""
    other = generate_key(key.alg, declare_alg="alg" in key.public_jwk)
    return KeyPair(
        key.alg, {**other.private_jwk, "kid": key.kid}, {**other.public_jwk, "kid": key.kid}
    )


def register(url: str, org: OrgFixture, key: KeyPair, scopes: list[dict[str, Any]]) -> str:
    """Create a private_key_jwt client whose only key is ``key``; its client key."""
    body = client_body(
        org,
        name=f"secretless-{key.kid}",
        scopes=scopes,
        tokenEndpointAuthMethod=PRIVATE_KEY_JWT,
        jwks={"keys": [key.public_jwk]},
    )
    created = httpx.post(
        f"{url}/v3/integrations/clients", json=body, auth=(org.admin.code, org.admin.password)
    )
    assert created.status_code == 200, created.text
    data: dict[str, Any] = created.json()["data"]
    assert data["tokenEndpointAuthMethod"] == PRIVATE_KEY_JWT, json.dumps(data)
    assert not data.get("clientSecret"), "a private_key_jwt client must have no secret"
    return str(data["clientKey"])

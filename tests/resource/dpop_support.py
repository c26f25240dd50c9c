"""DPoP for the resource-server tests: a client's proof key, tokens bound to it, and proofs
signed with it (or with another key) for one request."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from keyloft.domain.client_keys import thumbprint
from keyloft.domain.dpop import token_hash
from keyloft.domain.signing import SigningKey
from tests.support.resource import oauth_token

PROOF_KEY = ec.generate_private_key(ec.SECP256R1())
PROOF_JWK = json.loads(ECAlgorithm.to_jwk(PROOF_KEY.public_key()))
JKT = thumbprint(PROOF_JWK)

OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_JWK = json.loads(ECAlgorithm.to_jwk(OTHER_KEY.public_key()))

PUBLIC_URL = "https://api.example"


def bound_token(key: SigningKey, jkt: str = JKT, **overrides: Any) -> str:
    """An RFC 9068 token bound to the proof key (``cnf.jkt``)."""
    return oauth_token(key, cnf={"jkt": jkt}, **overrides)


def proof(
    token: str | None,
    *,
    method: str = "GET",
    url: str = f"{PUBLIC_URL}/v2/customers",
    key: Any = PROOF_KEY,
    jwk: dict[str, Any] = PROOF_JWK,
    **claims: Any,
) -> str:
    """A proof for one ``method`` request to ``url`` presenting ``token`` (``ath``), signed
    with ``key``; ``claims`` replace or (as None) drop claims."""
    body: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
    }
    if token is not None:
        body["ath"] = token_hash(token)
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    return jwt.encode(body, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})

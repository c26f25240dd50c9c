"""What a live Keyloft publishes, read as an independent client reads it: its RFC 8414
metadata, and its access tokens verified against its JWKS with PyJWT's PyJWKClient."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from tests.support.live import LiveServer


def metadata(live: LiveServer) -> dict[str, Any]:
    answer = httpx.get(f"{live.url}/.well-known/oauth-authorization-server")
    assert answer.status_code == 200, answer.text
    meta: dict[str, Any] = answer.json()
    assert meta["issuer"] == live.issuer
    return meta


def verified_claims(live: LiveServer, token: str) -> dict[str, Any]:
    """The claims of ``token`` once verified against the JWKS the metadata names."""
    meta = metadata(live)
    keys = jwt.PyJWKClient(meta["jwks_uri"], cache_keys=False)
    claims: dict[str, Any] = jwt.decode(
        token,
        keys.get_signing_key_from_jwt(token).key,
        algorithms=meta["access_token_signing_alg_values_supported"],
        audience=live.issuer,
        issuer=live.issuer,
    )
    return claims

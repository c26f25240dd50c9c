"""Keyloft for resource servers: verify access tokens offline and apply scope decisions locally.

``TokenVerifier`` (``verifier``) checks a token against the issuer's JWKS (``jwks``: fetching
and caching the keys; ``keyset``: which published keys are accepted) with the claim rules
Keyloft itself applies, reads it into a ``VerifiedToken`` (``verified``) and remembers it for a
while (``token_cache``); ``KeyloftMiddleware`` (``middleware``) guards an ASGI app with it.
Nothing here talks to Keyloft's store: revocations and deleted clients are invisible offline
(see docs/resource-servers.md).
"""

from keyloft.resource.jwks import JwksCache, JwksUnavailable
from keyloft.resource.middleware import KeyloftMiddleware
from keyloft.resource.verified import TokenInvalid, VerifiedToken
from keyloft.resource.verifier import TokenVerifier

__all__ = [
    "JwksCache",
    "JwksUnavailable",
    "KeyloftMiddleware",
    "TokenInvalid",
    "TokenVerifier",
    "VerifiedToken",
]

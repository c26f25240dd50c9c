"""Keyloft for resource servers: verify access tokens offline and apply scope decisions locally.

``TokenVerifier`` checks a token against the issuer's JWKS (``jwks``: fetching and caching the
keys; ``verifier``: the checks and the cache of verified tokens); ``KeyloftMiddleware``
(``middleware``) guards an ASGI app with it. Nothing here talks to Keyloft's store: revocations
and deleted clients are invisible offline (see docs/resource-servers.md).
"""

from keyloft.resource.jwks import JwksCache, JwksUnavailable
from keyloft.resource.middleware import KeyloftMiddleware
from keyloft.resource.verifier import TokenInvalid, TokenVerifier, VerifiedToken

__all__ = [
    "JwksCache",
    "JwksUnavailable",
    "KeyloftMiddleware",
    "TokenInvalid",
    "TokenVerifier",
    "VerifiedToken",
]

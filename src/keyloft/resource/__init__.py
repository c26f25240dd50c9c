"""Keyloft for resource servers: verify access tokens offline and apply scope decisions locally.

``TokenVerifier`` (``verifier``) checks a token against the issuer's JWKS (``jwks``: fetching
and caching the keys; ``keyset``: which published keys are accepted) with the claim rules
Keyloft itself applies, reads it into a ``VerifiedToken`` (``verified``) and remembers it for a
while (``token_cache``); ``dpop`` checks that a token is used as presented (a DPoP-bound token
only with a proof of its key, its proofs used once; a certificate-bound one only with its
mutual-TLS client certificate); ``KeyloftMiddleware`` (``middleware``)
guards an ASGI app with all of it.
Nothing here talks to Keyloft's store: revocations and deleted clients are invisible offline
(see docs/resource-servers.md).
"""

from keyloft.resource.dpop import (
    ProofInvalid,
    ProofReplayCache,
    ProofReplays,
    ReplayUnavailable,
    check_presentation,
)
from keyloft.resource.jwks import JwksCache, JwksUnavailable
from keyloft.resource.middleware import KeyloftMiddleware
from keyloft.resource.verified import TokenInvalid, VerifiedToken
from keyloft.resource.verifier import TokenVerifier

__all__ = [
    "JwksCache",
    "JwksUnavailable",
    "KeyloftMiddleware",
    "ProofInvalid",
    "ProofReplayCache",
    "ProofReplays",
    "ReplayUnavailable",
    "TokenInvalid",
    "TokenVerifier",
    "VerifiedToken",
    "check_presentation",
]

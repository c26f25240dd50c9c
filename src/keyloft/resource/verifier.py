"""Offline verification of Keyloft access tokens by a resource server.

This module owns what makes a token acceptable without asking Keyloft: the ``typ`` header,
the signature (by a key of the issuer's JWKS, with that key's own algorithm — RS256, ES256 or
EdDSA, never ``none``, never an HMAC, never the algorithm a token names for a key published
for another), and the claims, checked by the very rules Keyloft applies to its own tokens
(``keyloft.domain.signing.claims``): ``iss``, ``aud`` (RFC 9068 tokens), ``exp`` within a
small leeway, ``iat``/``nbf`` within the clock skew. ``verified`` reads who the token is for
and what it may do; ``token_cache`` makes repeated tokens cheap. Whether the token may be used
the way a request presents it (a DPoP-bound token needs its proof, a certificate-bound one its
certificate) is ``dpop``'s check, run by
``check_presentation`` and ``verify_request``.

Offline verification cannot see what happened after a token was issued: a revoked token, a
deleted client or narrowed scopes are only noticed by the decision point
(``POST /v3/oauth/check``) or introspection. Tokens are short-lived; that is the trade-off.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import httpx
import jwt

from keyloft.domain.signing.algorithms import ALGORITHMS
from keyloft.domain.signing.claims import (
    AUDIENCE_UNCHECKED,
    CLOCK_SKEW,
    EXPIRY_LEEWAY,
    ClaimFault,
    ClaimRejected,
    check_claims,
)
from keyloft.resource.dpop import Proof, ProofReplayCache, ProofReplays, check_presentation
from keyloft.resource.jwks import Fetch, JwksCache, JwksUnavailable, httpx_fetcher
from keyloft.resource.keyset import KID
from keyloft.resource.token_cache import VerifiedTokenCache
from keyloft.resource.verified import OAUTH_TYP, V3_TYP, TokenInvalid, VerifiedToken, read_verified

if TYPE_CHECKING:
    from jwt.types import Options

__all__ = ["OAUTH_TYP", "V3_TYP", "TokenInvalid", "TokenVerifier", "VerifiedToken"]

SUPPORTED_ALGORITHMS = ALGORITHMS
MAX_TOKEN_BYTES = 16 * 1024
MAX_LEEWAY = 300.0

# PyJWT checks the signature and reads the payload; the claims are left to the shared rules.
_SIGNATURE_ONLY: Final[Options] = {
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}

# The reason reported for each claim rule that refuses a token.
_CLAIM_REASONS: Final[dict[ClaimFault, str]] = {
    "missing": "claims",
    "malformed": "claims",
    "expired": "expired",
    "not_yet_valid": "not_yet_valid",
    "issuer": "issuer",
    "audience": "audience",
}


class TokenVerifier:
    """Verifies Keyloft access tokens against the issuer's JWKS, offline.

    ``audience`` is checked on RFC 9068 (``at+jwt``) tokens. v3 tokens (``typ: JWT``,
    ``token_use: token_access``) carry no audience; they are accepted only with
    ``accept_v3_tokens``. ``algorithms`` narrows which of the three the resource server
    accepts (all by default); a token is verified only with the algorithm its key is published
    for. A verified token is remembered (by its exact text) for at most
    ``cache_seconds`` and never past its ``exp``, in an LRU of ``cache_size`` entries.
    ``clock`` (epoch seconds) is the time for the claims, the cache and DPoP proofs alike.
    ``dpop_replays`` remembers the DPoP proofs already used: by default a ``ProofReplayCache``
    of this process; several processes serving the same clients should share one.
    """

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str,
        *,
        leeway: float = EXPIRY_LEEWAY,
        skew: float = CLOCK_SKEW,
        algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS,
        accept_v3_tokens: bool = True,
        fetch: Fetch | None = None,
        http_client: httpx.AsyncClient | None = None,
        jwks_max_age: float = 300.0,
        jwks_min_refetch_interval: float = 30.0,
        cache_size: int = 10_000,
        cache_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        dpop_replays: ProofReplays | None = None,
    ) -> None:
        unsafe = set(algorithms) - set(SUPPORTED_ALGORITHMS)
        if not algorithms or unsafe:
            raise ValueError(
                "only the signature algorithms RS256 (RSA), ES256 and EdDSA can be accepted, "
                f"not {sorted(unsafe)}"
            )
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY:g} seconds")
        if not issuer or not audience:
            raise ValueError("issuer and audience are required")
        if fetch is not None and http_client is not None:
            raise ValueError("pass either fetch or http_client, not both")
        self.issuer = issuer
        self.audience = audience
        self.jwks = JwksCache(
            jwks_url,
            fetch=fetch or httpx_fetcher(http_client),
            max_age=jwks_max_age,
            min_refetch_interval=jwks_min_refetch_interval,
        )
        self._leeway = leeway
        self._skew = skew
        self._algorithms = frozenset(algorithms)
        self._types = frozenset({OAUTH_TYP, V3_TYP} if accept_v3_tokens else {OAUTH_TYP})
        self._clock = clock
        self._cache = VerifiedTokenCache(size=cache_size, seconds=cache_seconds, clock=clock)
        self.dpop_replays: ProofReplays = (
            ProofReplayCache(clock=clock) if dpop_replays is None else dpop_replays
        )
        self.verifications = 0
        """Signature verifications done (cache misses that reached the signature check)."""
        self.cache_hits = 0

    async def verify(self, token: str) -> VerifiedToken:
        """The verified token, or TokenInvalid with the reason."""
        known = self._cache.get(token)
        if known is not None:
            self.cache_hits += 1
            return known
        verified = await self._verify(token)
        self._cache.put(token, verified)
        return verified

    async def check_presentation(
        self,
        verified: VerifiedToken,
        token: str,
        *,
        scheme: str,
        proofs: Sequence[str],
        method: str,
        url: str,
        certificate: str | None = None,
    ) -> Proof | None:
        """Whether the verified ``token`` may be used as presented (``dpop.check_presentation``
        at this verifier's time, with its replay store), by a caller whose mutual-TLS client
        certificate has the ``x5t#S256`` ``certificate`` (None when none is known): the DPoP
        proof, None for a bearer token, or TokenInvalid (ProofInvalid for the proof) with the
        reason."""
        return await check_presentation(
            verified,
            token,
            scheme=scheme,
            proofs=proofs,
            method=method,
            url=url,
            now=self._clock(),
            replays=self.dpop_replays,
            certificate=certificate,
        )

    async def verify_request(
        self,
        token: str,
        *,
        scheme: str,
        proofs: Sequence[str] = (),
        method: str,
        url: str,
        certificate: str | None = None,
    ) -> VerifiedToken:
        """``verify`` and ``check_presentation`` in one: the verified token if it may be used
        as this ``method`` request to ``url`` presents it, by a caller with the client
        certificate whose ``x5t#S256`` is ``certificate``; else TokenInvalid."""
        verified = await self.verify(token)
        await self.check_presentation(
            verified,
            token,
            scheme=scheme,
            proofs=proofs,
            method=method,
            url=url,
            certificate=certificate,
        )
        return verified

    def forget(self) -> None:
        """Drop every remembered token (for example after a key was withdrawn)."""
        self._cache.clear()

    async def _verify(self, token: str) -> VerifiedToken:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES:
            raise TokenInvalid("malformed")
        header = _header(token)
        alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
        if type(alg) is not str or alg not in self._algorithms:
            raise TokenInvalid("algorithm")
        if "crit" in header:  # no extension is understood, so none may be critical
            raise TokenInvalid("header")
        if not isinstance(kid, str) or not KID.fullmatch(kid):
            raise TokenInvalid("kid")
        if type(typ) is not str or typ not in self._types:
            raise TokenInvalid("typ")
        try:
            key = await self.jwks.key(kid)
        except JwksUnavailable:
            raise TokenInvalid("jwks_unavailable") from None
        if key is None:
            raise TokenInvalid("unknown_kid")
        if key.algorithm != alg:  # the key's algorithm, never the one the token names
            raise TokenInvalid("algorithm")
        self.verifications += 1
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=[alg], options=_SIGNATURE_ONLY
            )
        except jwt.InvalidSignatureError:
            raise TokenInvalid("signature") from None
        except jwt.PyJWTError:
            raise TokenInvalid("claims") from None
        try:
            check_claims(
                claims,
                issuer=self.issuer,
                audience=self.audience if typ == OAUTH_TYP else AUDIENCE_UNCHECKED,
                now=self._clock(),
                leeway=self._leeway,
                skew=self._skew,
            )
        except ClaimRejected as rejected:
            raise TokenInvalid(_CLAIM_REASONS[rejected.fault]) from None
        return read_verified(typ, claims)


def _header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, read once here (PyJWT checks the whole token again
    with the signature; reading just the header first keeps refusals cheap)."""
    head, _, rest = token.partition(".")
    if rest.count(".") != 1:
        raise TokenInvalid("malformed")
    try:
        raw = base64.b64decode(head + "=" * (-len(head) % 4), altchars=b"-_", validate=True)
        header = json.loads(raw)
    except (ValueError, binascii.Error):
        raise TokenInvalid("malformed") from None
    if not isinstance(header, dict):
        raise TokenInvalid("malformed")
    return header

"""Offline verification of Keyloft access tokens by a resource server.

This module owns what makes a token acceptable without asking Keyloft: the signature (by a key
of the issuer's JWKS, with that key's own algorithm — RS256, ES256 or EdDSA, never ``none``,
never an HMAC, never the algorithm a token names for a key published for another), the
``typ`` header, ``iss``, ``aud`` (RFC 9068 tokens), and ``exp``/``iat`` within a small leeway.
It also owns the short-lived cache of verified tokens that makes repeated tokens cheap.

Offline verification cannot see what happened after a token was issued: a revoked token, a
deleted client or narrowed scopes are only noticed by the decision point
(``POST /v3/oauth/check``) or introspection. Tokens are short-lived; that is the trade-off.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import httpx
import jwt

from keyloft.domain.scopes import Grant
from keyloft.domain.signing import CLOCK_SKEW
from keyloft.domain.tokens import TOKEN_USE, grants_from_claims
from keyloft.resource.jwks import KID, Fetch, JwksCache, JwksUnavailable, httpx_fetcher

OAUTH_TYP = "at+jwt"
V3_TYP = "JWT"
SUPPORTED_ALGORITHMS = ("RS256", "ES256", "EdDSA")
MAX_TOKEN_BYTES = 16 * 1024
MAX_LEEWAY = 300.0
REQUIRED_CLAIMS = ("exp", "iat", "iss", "sub", "jti")


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

    @property
    def oauth(self) -> bool:
        """An RFC 9068 token (from ``/oauth2/token``) rather than a v3 one."""
        return self.typ == OAUTH_TYP


class TokenVerifier:
    """Verifies Keyloft access tokens against the issuer's JWKS, offline.

    ``audience`` is checked on RFC 9068 (``at+jwt``) tokens. v3 tokens (``typ: JWT``,
    ``token_use: token_access``) carry no audience; they are accepted only with
    ``accept_v3_tokens``. ``algorithms`` narrows which of the three the resource server
    accepts (all by default); a token is verified only with the algorithm its key is published
    for. A verified token is remembered (by its exact text) for at most
    ``cache_seconds`` and never past its ``exp``, in an LRU of ``cache_size`` entries.
    """

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str,
        *,
        leeway: float = 30.0,
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
        self._algorithms = frozenset(algorithms)
        self._types = frozenset({OAUTH_TYP, V3_TYP} if accept_v3_tokens else {OAUTH_TYP})
        self._cache: OrderedDict[str, tuple[float, VerifiedToken]] = OrderedDict()
        self._cache_size = max(0, cache_size)
        self._cache_seconds = cache_seconds
        self._clock = clock
        # iat/nbf are checked against ``skew`` below: the issuing node's clock may run ahead.
        self._skew = skew
        self._options: dict[str, Any] = {
            "require": list(REQUIRED_CLAIMS),
            "verify_aud": True,
            "verify_iat": False,
            "verify_nbf": False,
        }
        self._options_v3: dict[str, Any] = {**self._options, "verify_aud": False}
        self.verifications = 0
        """Signature verifications done (cache misses that reached the signature check)."""
        self.cache_hits = 0

    async def verify(self, token: str) -> VerifiedToken:
        """The verified token, or TokenInvalid with the reason."""
        entry = self._cache.get(token)
        if entry is not None:
            if self._clock() < entry[0]:
                self._cache.move_to_end(token)
                self.cache_hits += 1
                return entry[1]
            del self._cache[token]
        verified = await self._verify(token)
        self._remember(token, verified)
        return verified

    def _remember(self, token: str, verified: VerifiedToken) -> None:
        if not self._cache_size:
            return
        until = min(float(verified.expires_at), self._clock() + self._cache_seconds)
        self._cache[token] = (until, verified)
        self._cache.move_to_end(token)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

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
        oauth = typ == OAUTH_TYP
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                issuer=self.issuer,
                audience=self.audience if oauth else None,
                leeway=self._leeway,
                options=self._options if oauth else self._options_v3,
            )
        except jwt.ExpiredSignatureError:
            raise TokenInvalid("expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenInvalid("not_yet_valid") from None
        except jwt.InvalidIssuerError:
            raise TokenInvalid("issuer") from None
        except jwt.InvalidAudienceError:
            raise TokenInvalid("audience") from None
        except jwt.InvalidSignatureError:
            raise TokenInvalid("signature") from None
        except jwt.PyJWTError:
            raise TokenInvalid("claims") from None
        latest = self._clock() + self._skew
        for claim in ("iat", "nbf"):
            value = claims.get(claim, 0)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TokenInvalid("claims")
            if value > latest:
                raise TokenInvalid("not_yet_valid")
        return _read(typ, claims)


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


def _read(typ: str, claims: dict[str, Any]) -> VerifiedToken:
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
    return VerifiedToken(
        typ=typ,
        claims=MappingProxyType(claims),
        client_key=client_key,
        org_id=org_id,
        default_till=till,
        grants=grants,
        expires_at=int(exp),
    )

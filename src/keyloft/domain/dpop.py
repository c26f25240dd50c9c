"""DPoP proofs (RFC 9449): checking one against the request it came with.

A proof is a JWT the client signs for each request with a key it keeps, whose public half it
carries in the header (``jwk``). Checked here, in the order of RFC 9449 §4.3: a single
well-formed JWT; ``typ`` ``dpop+jwt``; an asymmetric algorithm Keyloft accepts, of the key's
own family; a public key only; the signature; ``jti``, ``htm``, ``htu`` and ``iat`` present;
``htm`` and ``htu`` the request's method and URL (query and fragment ignored, the URL as the
deployment's public address names it, not as the Host header does); ``iat`` within the window;
with an access token, ``ath`` its hash. What needs the outside world — a nonce's validity, the
single use of ``jti``, the key bound to the token — the caller checks with what this returns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from keyloft.domain.client_keys import (
    ASSERTION_ALGORITHMS,
    BadSignature,
    ClientKey,
    UnusableKey,
    b64url,
    public_key,
    split_jws,
    verify_jws,
)
from keyloft.domain.signing.compact import unb64url

TYP = "dpop+jwt"
PROOF_ALGORITHMS: Final[tuple[str, ...]] = ASSERTION_ALGORITHMS
MAX_PROOF = 8 * 1024
MAX_JTI = 256
MAX_AGE = 300
"""How old a proof may be (``iat``), in seconds."""
SKEW = 60
"""How far ahead of the server's clock a proof's ``iat`` may be, in seconds."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


class ProofRefused(ValueError):
    """A proof that does not hold; ``reason`` is one word, for logs and metrics only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Proof:
    jkt: str
    """The RFC 7638 thumbprint of the proof's key: what a bound token's ``cnf.jkt`` holds."""
    jti: str
    iat: float
    nonce: str | None


def token_hash(access_token: str) -> str:
    """``ath``: the base64url SHA-256 of the access token's ASCII bytes (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def normalized_url(url: str) -> str:
    """The URL as ``htu`` compares it (RFC 9449 §4.3, RFC 3986 §6.2.2-3): scheme and host in
    lower case, a default port dropped, an empty path as ``/``, no query, no fragment."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


HEADERS_HELD = 512
"""How many proof headers' checked keys a process holds (``_header_key``)."""


@lru_cache(maxsize=HEADERS_HELD)
def _header_key(segment: str) -> tuple[ClientKey, str] | str:
    """The key and algorithm of a proof's header segment, checked (``typ``, the algorithm
    allow-list, a public ``jwk`` of the algorithm's family, no critical extension); else the
    reason it is refused.

    A client signs every proof with one key, so its header segment repeats: held, a header
    seen before costs a lookup instead of decoding JSON, checking the JWK, building the key
    and hashing its thumbprint. The signature is checked for every proof all the same."""
    try:
        header: Any = json.loads(unb64url(segment))
    except ValueError:
        return "malformed"
    if not isinstance(header, dict):
        return "malformed"
    if header.get("typ") != TYP:
        return "typ"
    algorithm = header.get("alg")
    if algorithm not in PROOF_ALGORITHMS:
        return "algorithm"
    if "crit" in header:
        return "malformed"  # RFC 7515 §4.1.11: no extension is understood here
    try:
        key = public_key(header.get("jwk"))
    except UnusableKey:
        return "jwk"
    if not key.verifies(algorithm):
        return "algorithm"
    return key, algorithm


def check_proof(
    value: str,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None = None,
) -> Proof:
    """The proof of ``value`` for a ``method`` request to ``url`` (the public URL), with
    ``access_token`` when one is presented with it; ``ProofRefused`` otherwise."""
    if not value or len(value) > MAX_PROOF:
        raise ProofRefused("malformed")
    try:
        jws = split_jws(value)
    except BadSignature:
        raise ProofRefused("malformed") from None
    checked = _header_key(jws.header)
    if isinstance(checked, str):
        raise ProofRefused(checked)
    key, algorithm = checked
    try:
        claims: Any = json.loads(verify_jws(jws, key, algorithm))
    except BadSignature:
        raise ProofRefused("signature") from None
    except ValueError:
        raise ProofRefused("malformed") from None
    if not isinstance(claims, dict):
        raise ProofRefused("malformed")
    jti, htm, htu, iat = (claims.get(name) for name in ("jti", "htm", "htu", "iat"))
    if not isinstance(jti, str) or not 1 <= len(jti) <= MAX_JTI:
        raise ProofRefused("jti")
    if htm != method:
        raise ProofRefused("htm")
    # The same string needs no normalising; only a differently written URL does.
    if not isinstance(htu, str) or (htu != url and normalized_url(htu) != normalized_url(url)):
        raise ProofRefused("htu")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise ProofRefused("iat")
    if iat > now + SKEW or iat < now - MAX_AGE:
        raise ProofRefused("iat")
    if access_token is not None and claims.get("ath") != token_hash(access_token):
        raise ProofRefused("ath")
    nonce = claims.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise ProofRefused("nonce")
    return Proof(key.thumbprint, jti, float(iat), nonce)

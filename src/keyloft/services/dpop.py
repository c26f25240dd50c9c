"""DPoP (RFC 9449) at Keyloft's own checkpoints: a request's proof checked against the
request, the server's nonce, and the single use of its ``jti`` on every node.

Nonces are not stored: a nonce is the number of the current 5-minute window with an HMAC of it
under a key derived from the server secret, so every node makes and accepts the same ones with
no shared state; the current and the previous window's are accepted, so a nonce lives 5 to 10
minutes. Proof ``jti``s go through the node's replay guard (Redis ``SET NX``, else the store),
until the proof is too old to be accepted anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keyloft.domain.dpop import MAX_AGE, SKEW, Proof, ProofRefused, check_proof
from keyloft.domain.errors import InvalidToken
from keyloft.domain.oauth import InvalidDpopProof, UseDpopNonce
from keyloft.services.node import Node

log = logging.getLogger("keyloft.dpop")
NONCE_WINDOW = 300
_WINDOW_BYTES = 8
_MAC_BYTES = 16


class DpopNonces:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, window: int) -> bytes:
        data = b"dpop-nonce\x00" + window.to_bytes(_WINDOW_BYTES, "big")
        return hmac.new(self._key, data, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, now: float) -> str:
        window = int(now // NONCE_WINDOW)
        raw = window.to_bytes(_WINDOW_BYTES, "big") + self._mac(window)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def valid(self, nonce: str, now: float) -> bool:
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (binascii.Error, ValueError):
            return False
        if len(raw) != _WINDOW_BYTES + _MAC_BYTES:
            return False
        window = int.from_bytes(raw[:_WINDOW_BYTES], "big")
        current = int(now // NONCE_WINDOW)
        if window not in (current, current - 1):
            return False
        return hmac.compare_digest(raw[_WINDOW_BYTES:], self._mac(window))


def replay_key(proof: Proof) -> str:
    return hashlib.sha256(f"dpop\x00{proof.jkt}\x00{proof.jti}".encode()).hexdigest()


async def check_request_proof(
    node: Node,
    values: Sequence[str],
    *,
    method: str,
    url: str,
    access_token: str | None = None,
) -> Proof:
    """The one DPoP proof of a request (its ``DPoP`` header values), checked against the
    request, the nonce when the deployment asks for one, and single use on every node;
    ``InvalidDpopProof`` or ``UseDpopNonce`` otherwise."""
    if len(values) != 1:
        raise _refused("count")
    now = node.clock.now().timestamp()
    try:
        proof = check_proof(values[0], method=method, url=url, now=now, access_token=access_token)
    except ProofRefused as refused:
        raise _refused(refused.reason) from None
    nonces = node.dpop_nonces
    if nonces is not None and (proof.nonce is None or not nonces.valid(proof.nonce, now)):
        raise UseDpopNonce(nonces.issue(now))
    until = datetime.fromtimestamp(proof.iat + MAX_AGE + SKEW, UTC)
    if not await node.replays.first_use(replay_key(proof), until):
        raise _refused("replayed")
    return proof


def _refused(reason: str) -> InvalidDpopProof:
    log.info("DPoP proof refused", extra={"reason": reason})
    return InvalidDpopProof(reason)


BEARER, DPOP = "Bearer", "DPoP"


# Made for each request: a plain slotted dataclass.
@dataclass(slots=True)
class Presentation:
    """How an access token came: its scheme (``Bearer`` — which Keyloft's own token header
    counts as — or ``DPoP``), the request's ``DPoP`` proofs, and the request it came with (the
    method, and the URL as the public address of what is called names it)."""

    scheme: str = BEARER
    proofs: tuple[str, ...] = ()
    method: str = ""
    url: str = ""
    certificate: str | None = None
    """The ``x5t#S256`` of the client's TLS certificate, when it came with one (RFC 8705)."""


BEARER_PRESENTATION = Presentation()


async def check_binding(
    node: Node, claims: Mapping[str, Any], token: str, presentation: Presentation
) -> None:
    """RFC 9449 §7: a token bound to a key (``cnf.jkt``) comes with the DPoP scheme and a
    proof of that key for this very request; an unbound token never with the DPoP scheme.
    RFC 8705 §3: a token bound to a certificate (``cnf.x5t#S256``) comes over TLS with that
    very certificate. ``InvalidToken`` (with the DPoP challenge's error) otherwise."""
    confirmation = claims.get("cnf")
    if isinstance(confirmation, Mapping) and "x5t#S256" in confirmation:
        bound = confirmation["x5t#S256"]
        presented = presentation.certificate
        if (
            not isinstance(bound, str)
            or presented is None
            or not hmac.compare_digest(bound, presented)
        ):
            raise InvalidToken(reason="certificate")
    jkt = confirmation.get("jkt") if isinstance(confirmation, Mapping) else None
    dpop = presentation.scheme == DPOP
    if jkt is None:
        if dpop:
            raise InvalidToken(reason="dpop_unbound", dpop=True)
        return
    if not dpop:
        raise InvalidToken(reason="dpop_required", dpop=True)
    try:
        proof = await check_request_proof(
            node,
            presentation.proofs,
            method=presentation.method,
            url=presentation.url,
            access_token=token,
        )
    except UseDpopNonce as asked:
        raise InvalidToken(
            "Resource server requires nonce in DPoP proof.",
            reason="nonce",
            dpop=True,
            dpop_error="use_dpop_nonce",
            nonce=asked.nonce,
        ) from None
    except InvalidDpopProof as refused:
        raise InvalidToken(
            "The DPoP proof is invalid.",
            reason=refused.reason,
            dpop=True,
            dpop_error="invalid_dpop_proof",
        ) from None
    if not isinstance(jkt, str) or not hmac.compare_digest(proof.jkt, jkt):
        raise InvalidToken(reason="dpop_key", dpop=True)

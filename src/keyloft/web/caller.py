"""Who is calling, and from where: the credentials of a management call (HTTP Basic, or an
access token in ``X-CAP-API-OAUTH-TOKEN`` / ``Authorization: Bearer``), the caller's address
(``X-Forwarded-For`` only behind trusted proxies) and the request's audit context."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from keyloft.domain.actors import Actor
from keyloft.domain.addresses import client_ip, is_trusted
from keyloft.domain.audit import RequestContext
from keyloft.domain.certificates import ClientCertificate, read_certificate
from keyloft.domain.errors import Unauthenticated, ValidationFailed
from keyloft.services.callers import BasicLogin, TokenCall
from keyloft.services.dpop import DPOP, Presentation
from keyloft.web.wiring import runtime_of, services_of

TILL_TYPE = "x-cap-api-attribution-entity-type"
TILL_CODE = "x-cap-api-attribution-entity-code"


def caller_address(request: Request) -> str:
    peer = request.client.host if request.client else None
    trusted = runtime_of(request).trusted_proxies
    return client_ip(peer, request.headers.get("x-forwarded-for"), trusted)


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
log = logging.getLogger("keyloft.web")


def client_certificate(request: Request) -> ClientCertificate | None:
    """The client's TLS certificate (RFC 8705). From one of ``KEYLOFT_TRUSTED_PROXIES``, the one
    the TLS terminator passes in the header ``KEYLOFT_CLIENT_CERT_HEADER``: a proxy speaks for
    its client, even when it connects over TLS with a certificate of its own. Otherwise, when
    ``keyloft serve`` terminates TLS itself, the one the client presented on this connection
    (the ASGI TLS extension, ``web/tls.py``; the handshake checked it against
    ``--ssl-ca-certs``). A header from any other peer is never believed, so no caller can name
    a certificate it does not hold."""
    runtime = runtime_of(request)
    header = runtime.settings.client_cert_header
    value = request.headers.get(header) if header is not None else None
    if value:
        peer = request.client.host if request.client else None
        if is_trusted(peer, runtime.trusted_proxies):
            try:
                return read_certificate(value)
            except ValueError:
                log.info("unreadable client certificate header", extra={"header": header})
                return None
    tls = (request.scope.get("extensions") or {}).get("tls")
    chain = tls.get("client_cert_chain") if isinstance(tls, dict) else None
    if isinstance(chain, list | tuple) and chain:
        try:
            return read_certificate(chain[0])
        except ValueError:
            log.info("unreadable client certificate on the TLS connection")
    return None


def public_url(request: Request) -> str:
    """The URL of this request as the deployment's public address names it (``KEYLOFT_ISSUER``
    and the path), never as the Host header does: what a DPoP proof's ``htu`` must be."""
    return runtime_of(request).issuer.rstrip("/") + request.url.path


def token_headers(request: Request) -> dict[str, str]:
    """A token answer's headers: never cached, and a fresh DPoP nonce when the deployment
    requires them (RFC 9449 §8.2: the client uses it in its next proof)."""
    runtime = runtime_of(request)
    nonces = runtime.dpop_nonces
    if nonces is None:
        return NO_STORE
    return NO_STORE | {"DPoP-Nonce": nonces.issue(runtime.now().timestamp())}


def request_context(request: Request) -> RequestContext:
    state = request.scope.get("state") or {}
    return RequestContext(request_id=state.get("request_id"), source_ip=caller_address(request))


def credentials(request: Request) -> BasicLogin | TokenCall:
    """The call's one credential; a token and Basic together, or two different tokens, are
    refused rather than guessed between."""
    headers = request.headers
    scheme, _, value = headers.get("authorization", "").partition(" ")
    scheme = scheme.lower()
    token = headers.get("x-cap-api-oauth-token")
    if scheme in ("bearer", "dpop"):
        # A DPoP token comes in Authorization alone; a bearer one may also be in the v3 header.
        if token is not None and (scheme == "dpop" or token != value.strip()):
            raise ValidationFailed(
                "Send the access token in one header only.", field="Authorization"
            )
        token = value.strip()
    elif token is not None and scheme == "basic":
        raise ValidationFailed("Use either Basic or a token, not both.", field="Authorization")
    if token is not None:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        presentation = (
            Presentation(DPOP, tuple(headers.getlist("dpop")), request.method, public_url(request))
            if scheme == "dpop"
            else Presentation()
        )
        presentation.certificate = _x5t(request)
        return TokenCall(
            token,
            method=request.method,
            raw_path=raw_path.decode("latin-1"),
            till_type=headers.get(TILL_TYPE),
            till_code=headers.get(TILL_CODE),
            presentation=presentation,
        )
    if scheme == "basic":
        username, password = _basic(value)
        return BasicLogin(username, password, caller_address(request))
    raise Unauthenticated()


def _x5t(request: Request) -> str | None:
    certificate = client_certificate(request)
    return certificate.x5t_s256 if certificate is not None else None


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Malformed Basic credentials.") from None
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        raise Unauthenticated("Malformed Basic credentials.")
    return username, password


async def current_actor(request: Request) -> Actor:
    """Authenticate by Basic or access token; a token must also be allowed this call."""
    return await services_of(request).callers.authenticate(credentials(request))


ActorDep = Annotated[Actor, Depends(current_actor)]

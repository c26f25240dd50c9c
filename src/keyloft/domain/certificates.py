"""Client certificates of mutual TLS (RFC 8705), as a TLS terminator passes them on: reading
one, and the ways a client's registered keys name it.

A certificate is named by its ``x5t#S256``: the base64url SHA-256 of its DER encoding, which a
certificate-bound token carries in ``cnf`` (RFC 8705 §3.1). A client that authenticates with
``self_signed_tls_client_auth`` registers the certificate in its ``jwks``: a key whose
``x5t#S256`` (or first ``x5c`` certificate) is this certificate, or whose public key is the
certificate's (RFC 8705 §2.2). A ``tls_client_auth`` client instead names it by its subject or a
subjectAltName (``keyloft.domain.certificate_names``), issued by a trusted CA
(``keyloft.domain.certificate_trust``), which read the parsed certificate kept here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from keyloft.domain.client_keys import ClientKey, b64url, thumbprint

MAX_PEM = 16 * 1024


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    der: bytes
    x5t_s256: str
    key_thumbprint: str | None
    """The RFC 7638 thumbprint of its public key (None for a key type JWK cannot hold)."""
    certificate: x509.Certificate | None = field(default=None, repr=False, compare=False)
    """The certificate as parsed, when it was (else ``parsed()`` reads ``der``)."""

    def parsed(self) -> x509.Certificate:
        """The certificate itself, for its names and its chain."""
        if self.certificate is not None:
            return self.certificate
        return x509.load_der_x509_certificate(self.der)


def x5t_s256(der: bytes) -> str:
    return b64url(hashlib.sha256(der).digest())


def _public_jwk(certificate: x509.Certificate) -> dict[str, object] | None:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        text = RSAAlgorithm.to_jwk(key)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        text = ECAlgorithm.to_jwk(key)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        text = OKPAlgorithm.to_jwk(key)
    else:
        return None
    jwk: dict[str, object] = json.loads(text)
    return jwk


def read_certificate(value: str) -> ClientCertificate:
    """The certificate of a header value: a PEM certificate, URL-encoded as nginx's
    ``$ssl_client_escaped_cert`` sends it (or not); ``ValueError`` when it is none."""
    text = unquote(value.strip()) if "%" in value else value.strip()
    if not text or len(text) > MAX_PEM:
        raise ValueError("no certificate")
    certificate = x509.load_pem_x509_certificate(text.encode("ascii", "strict"))
    der = certificate.public_bytes(Encoding.DER)
    jwk = _public_jwk(certificate)
    return ClientCertificate(der, x5t_s256(der), thumbprint(jwk) if jwk else None, certificate)


def _registered_x5t(key: ClientKey) -> str | None:
    named = key.jwk.get("x5t#S256")
    if isinstance(named, str):
        return named
    chain = key.jwk.get("x5c")
    if isinstance(chain, list) and chain and isinstance(chain[0], str):
        try:
            return x5t_s256(base64.b64decode(chain[0], validate=True))
        except (binascii.Error, ValueError):
            return None
    return None


def matching_key(certificate: ClientCertificate, keys: Sequence[ClientKey]) -> ClientKey | None:
    """The registered key that names this certificate, by ``x5t#S256``/``x5c`` or by its
    public key; compared in constant time."""
    for key in keys:
        registered = _registered_x5t(key)
        if registered is not None and hmac.compare_digest(registered, certificate.x5t_s256):
            return key
        if certificate.key_thumbprint is not None and hmac.compare_digest(
            key.thumbprint, certificate.key_thumbprint
        ):
            return key
    return None

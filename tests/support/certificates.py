"""X.509 certificates made in tests, written as PEM files a TLS peer can load: certificate
authorities (roots, and intermediates with ``parent``) issuing server and client certificates
with a chosen subject, subjectAltNames, extended key usage and validity; self-signed
certificates; an ``ssl`` client context presenting one; and how a TLS terminator passes one on
(the URL-encoded PEM of nginx's ``$ssl_client_escaped_cert``)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

HEADER = "X-SSL-Client-Cert"
CLIENT_AUTH: tuple[ObjectIdentifier, ...] = (ExtendedKeyUsageOID.CLIENT_AUTH,)
SERVER_AUTH: tuple[ObjectIdentifier, ...] = (ExtendedKeyUsageOID.SERVER_AUTH,)


@dataclass(frozen=True)
class Issued:
    """A certificate, its private key, and the files holding them."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    certfile: Path
    keyfile: Path

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def subject(self) -> str:
        """Its subject as an RFC 4514 string (``CN=partner``)."""
        return self.certificate.subject.rfc4514_string()

    @property
    def x5t_s256(self) -> str:
        """The base64url SHA-256 of its DER encoding (RFC 8705 §3.1)."""
        return base64.urlsafe_b64encode(hashlib.sha256(self.der).digest()).rstrip(b"=").decode()

    @property
    def jwk(self) -> dict[str, Any]:
        """Its public key as a JWK, with the certificate in ``x5c``."""
        public = jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return dict(public) | {"x5c": [base64.b64encode(self.der).decode()]}

    def header(self, name: str = HEADER) -> dict[str, str]:
        """The certificate as nginx's ``$ssl_client_escaped_cert`` passes it on."""
        return {name: quote(self.pem.decode(), safe="")}

    def client_context(self, cafile: Path) -> ssl.SSLContext:
        """A TLS client context trusting ``cafile`` and presenting this certificate."""
        context = ssl.create_default_context(cafile=str(cafile))
        context.load_cert_chain(self.certfile, self.keyfile)
        return context


def _save(
    directory: Path, name: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Issued:
    certfile, keyfile = directory / f"{name}.pem", directory / f"{name}.key"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(certificate, key, certfile, keyfile)


def _subject(name: str, subject: str | None) -> x509.Name:
    if subject is not None:
        return x509.Name.from_rfc4514_string(subject)
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    not_before: dt.datetime | None,
    not_after: dt.datetime | None,
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=1))
    )


def _alt_names(
    builder: x509.CertificateBuilder,
    dns: Sequence[str],
    uris: Sequence[str],
    ips: Sequence[str],
    emails: Sequence[str],
) -> x509.CertificateBuilder:
    names: list[x509.GeneralName] = [
        *(x509.DNSName(value) for value in dns),
        *(x509.UniformResourceIdentifier(value) for value in uris),
        *(x509.IPAddress(ipaddress.ip_address(value)) for value in ips),
        *(x509.RFC822Name(value) for value in emails),
    ]
    if not names:
        return builder
    return builder.add_extension(x509.SubjectAlternativeName(names), critical=False)


_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


class CertificateAuthority:
    """A CA whose certificate and key are ``{name}.pem`` and ``{name}.key`` in ``directory``:
    a root, or with ``parent`` an intermediate that CA issued. It issues certificates into the
    same directory."""

    def __init__(
        self,
        directory: Path,
        name: str = "ca",
        *,
        subject: str | None = None,
        parent: CertificateAuthority | None = None,
        not_after: dt.datetime | None = None,
    ) -> None:
        self.directory = directory
        key = ec.generate_private_key(ec.SECP256R1())
        self.name = _subject(name, subject)
        issuer = parent.name if parent is not None else self.name
        signer = parent.issued.key if parent is not None else key
        builder = (
            _builder(self.name, issuer, key.public_key(), None, not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
        if parent is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
            )
        self.issued = _save(directory, name, builder.sign(signer, hashes.SHA256()), key)

    @property
    def certfile(self) -> Path:
        return self.issued.certfile

    def issue(
        self,
        name: str,
        *,
        server: bool = False,
        subject: str | None = None,
        dns: Sequence[str] = (),
        uris: Sequence[str] = (),
        ips: Sequence[str] = (),
        emails: Sequence[str] = (),
        eku: Sequence[ObjectIdentifier] | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Issued:
        """A certificate for ``subject`` (an RFC 4514 string; default ``CN=<name>``): with
        ``server`` one for 127.0.0.1 and localhost, else a client's. ``eku`` defaults to
        serverAuth or clientAuth; ``()`` leaves the extension out."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(
            _subject(name, subject), self.name, key.public_key(), not_before, not_after
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issued.key.public_key()),
            critical=False,
        ).add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        if server:
            dns, ips = [*dns, "localhost"], [*ips, "127.0.0.1"]
        builder = _alt_names(builder, dns, uris, ips, emails)
        usage = eku if eku is not None else (SERVER_AUTH if server else CLIENT_AUTH)
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usage)), critical=False)
        return _save(self.directory, name, builder.sign(self.issued.key, hashes.SHA256()), key)


def self_signed(
    directory: Path,
    name: str,
    *,
    subject: str | None = None,
    dns: Sequence[str] = (),
    uris: Sequence[str] = (),
    ips: Sequence[str] = (),
    emails: Sequence[str] = (),
) -> Issued:
    """A certificate signed by its own key, no CA involved (``{name}.pem``, ``{name}.key``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    own = _subject(name, subject)
    builder = _alt_names(_builder(own, own, key.public_key(), None, None), dns, uris, ips, emails)
    return _save(directory, name, builder.sign(key, hashes.SHA256()), key)

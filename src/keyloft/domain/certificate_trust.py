"""The certificate authorities a ``tls_client_auth`` client's certificate must chain to (RFC 8705
§2.1), and checking that chain.

The deployment's bundle (``KEYLOFT_CLIENT_CA_CERTS``) is the trust store: roots, and the
intermediates that issue client certificates, since a TLS terminator passes on the client's own
certificate only. Every certificate in it must be a CA (``basicConstraints`` with ``cA``):
otherwise a leaf put there by mistake would be trusted as itself.

A certificate is checked by ``cryptography``'s X.509 client verifier at the node's time: the
chain to a certificate of the store, each signature, each validity period, the CAs'
``basicConstraints`` (and path lengths), and for the client certificate an extended key usage
that, when present, includes ``clientAuth``. Its Web PKI profile is relaxed where a private
client PKI differs from the Web's: the client certificate need not carry a subjectAltName (one
named by its subject DN often has none) or an authorityKeyIdentifier, and a CA need not carry
``keyUsage`` (when it does, it must allow ``keyCertSign``). Revocation (CRLs, OCSP) is not
checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)


class UntrustedCertificate(ValueError):
    """Not issued by a trusted CA, outside its validity, or not a client certificate; the
    message is the verifier's, for the log only."""


def _allows_certificate_signing(
    policy: Policy, certificate: x509.Certificate, usage: x509.KeyUsage | None
) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError("keyUsage does not allow keyCertSign")


def _policies() -> tuple[ExtensionPolicy, ExtensionPolicy]:
    """The CA and client certificate extension policies (see the module's description)."""
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.KeyUsage, Criticality.AGNOSTIC, _allows_certificate_signing
    )
    client = (
        ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        .may_be_present(x509.AuthorityKeyIdentifier, Criticality.AGNOSTIC, None)
    )
    return ca, client


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except (x509.ExtensionNotFound, ValueError):
        return False
    return constraints.value.ca


@dataclass(frozen=True, slots=True)
class ClientCertificateTrust:
    """The trusted CA certificates, and the verifier's policies over them."""

    authorities: tuple[x509.Certificate, ...]
    _store: Store = field(init=False, repr=False, compare=False)
    _policies: tuple[ExtensionPolicy, ExtensionPolicy] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_store", Store(list(self.authorities)))
        object.__setattr__(self, "_policies", _policies())

    @classmethod
    def from_pem(cls, data: bytes) -> ClientCertificateTrust:
        """The CA certificates of a PEM bundle; ``ValueError`` saying why it is unusable."""
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise ValueError("holds no readable PEM certificate") from None
        for number, certificate in enumerate(certificates, start=1):
            if not _is_ca(certificate):
                raise ValueError(
                    f"certificate {number} ({certificate.subject.rfc4514_string()}) is not a CA "
                    "certificate (basicConstraints with cA true)"
                )
        return cls(tuple(certificates))

    def verify(self, certificate: x509.Certificate, at: datetime) -> None:
        """Nothing when ``certificate`` chains to a trusted CA at ``at`` as a client
        certificate; ``UntrustedCertificate`` otherwise."""
        ca, client = self._policies
        verifier = (
            PolicyBuilder()
            .store(self._store)
            .time(at)
            .extension_policies(ca_policy=ca, ee_policy=client)
            .build_client_verifier()
        )
        try:
            verifier.verify(certificate, [])
        except VerificationError as failed:
            raise UntrustedCertificate(str(failed)) from None

"""The CAs of tls_client_auth (RFC 8705 §2.1): a bundle of CA certificates only, and a client
certificate trusted only when it chains to one of them, at the given time, as a client
certificate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from keyloft.domain.certificate_trust import ClientCertificateTrust, UntrustedCertificate
from tests.support.certificates import CertificateAuthority, Issued, self_signed

SUBJECT = "CN=partner,O=Acme,C=DE"


@pytest.fixture
def now() -> dt.datetime:
    """This test's time: certificates made here start being valid five minutes before it."""
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path, "root")


@pytest.fixture
def trust(ca: CertificateAuthority) -> ClientCertificateTrust:
    return ClientCertificateTrust.from_pem(ca.issued.pem)


def trusted(trust: ClientCertificateTrust, issued: Issued, at: dt.datetime | None = None) -> bool:
    try:
        trust.verify(issued.certificate, at or dt.datetime.now(dt.UTC))
    except UntrustedCertificate:
        return False
    return True


def test_a_certificate_the_ca_issued_is_trusted(
    trust: ClientCertificateTrust, ca: CertificateAuthority
) -> None:
    assert trusted(trust, ca.issue("leaf", subject=SUBJECT))


def test_a_client_certificate_needs_no_subject_alt_name(
    trust: ClientCertificateTrust, ca: CertificateAuthority
) -> None:
    """Named by its subject DN, a client certificate of a private CA often has none (the Web
    PKI profile would require one)."""
    leaf = ca.issue("bare", subject=SUBJECT)
    assert "2.5.29.17" not in {ext.oid.dotted_string for ext in leaf.certificate.extensions}
    assert trusted(trust, leaf)


def test_a_self_signed_certificate_with_the_same_subject_is_not(
    trust: ClientCertificateTrust, tmp_path: Path
) -> None:
    assert not trusted(trust, self_signed(tmp_path, "impostor", subject=SUBJECT))


def test_another_cas_certificate_is_not(trust: ClientCertificateTrust, tmp_path: Path) -> None:
    other = CertificateAuthority(tmp_path, "other", subject="CN=Keyloft Test CA")
    assert not trusted(trust, other.issue("leaf", subject=SUBJECT))


def test_an_expired_or_not_yet_valid_certificate_is_not(
    trust: ClientCertificateTrust, ca: CertificateAuthority, now: dt.datetime
) -> None:
    expired = ca.issue(
        "old", not_before=now - dt.timedelta(days=3), not_after=now - dt.timedelta(days=1)
    )
    assert not trusted(trust, expired)
    early = ca.issue("early", not_before=now + dt.timedelta(hours=1))
    assert not trusted(trust, early)
    assert trusted(trust, early, now + dt.timedelta(hours=2))  # the time is the caller's


def test_the_verification_time_is_the_one_given(
    trust: ClientCertificateTrust, ca: CertificateAuthority, now: dt.datetime
) -> None:
    leaf = ca.issue("leaf")  # valid for a day
    assert trusted(trust, leaf, now)
    assert not trusted(trust, leaf, now + dt.timedelta(days=2))


def test_extended_key_usage_must_allow_client_authentication_when_present(
    trust: ClientCertificateTrust, ca: CertificateAuthority
) -> None:
    server_only = ca.issue("server-only", eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    assert not trusted(trust, server_only)
    both = ca.issue("both", eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    assert trusted(trust, both)
    assert trusted(trust, ca.issue("no-eku", eku=()))  # absent: any use (RFC 5280 §4.2.1.12)


def test_a_ca_certificate_is_no_client_certificate(
    trust: ClientCertificateTrust, ca: CertificateAuthority
) -> None:
    assert not trusted(trust, ca.issued)


def test_an_intermediate_in_the_bundle_lets_its_certificates_chain(tmp_path: Path) -> None:
    root = CertificateAuthority(tmp_path, "root")
    issuing = CertificateAuthority(tmp_path, "issuing", parent=root)
    leaf = issuing.issue("leaf", subject=SUBJECT)
    assert not trusted(ClientCertificateTrust.from_pem(root.issued.pem), leaf)
    assert trusted(ClientCertificateTrust.from_pem(root.issued.pem + issuing.issued.pem), leaf)
    assert trusted(ClientCertificateTrust.from_pem(issuing.issued.pem), leaf)


def test_an_expired_ca_trusts_nothing(tmp_path: Path, now: dt.datetime) -> None:
    old = CertificateAuthority(tmp_path, "old", not_after=now + dt.timedelta(hours=1))
    leaf = old.issue("leaf")
    trust = ClientCertificateTrust.from_pem(old.issued.pem)
    assert trusted(trust, leaf, now)
    assert not trusted(trust, leaf, now + dt.timedelta(hours=2))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "holds no readable PEM certificate"),
        (b"not a certificate\n", "holds no readable PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "no readable"),
    ],
)
def test_a_bundle_without_certificates_is_unusable(content: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ClientCertificateTrust.from_pem(content)


def test_a_bundle_holding_a_certificate_that_is_no_ca_is_unusable(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    """Trusted as an anchor, a leaf in the bundle would prove itself: refused at start-up."""
    leaf = self_signed(tmp_path, "leaf", subject="CN=leaf")
    with pytest.raises(ValueError, match=r"certificate 2 \(CN=leaf\) is not a CA certificate"):
        ClientCertificateTrust.from_pem(ca.issued.pem + leaf.pem)

"""The name a tls_client_auth client registers for its certificate (RFC 8705 §2.1.2): each kind
checked when registered and matched as the domain documents — subject DNs as parsed names RDN by
RDN, SANs of one type each."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyloft.domain.certificate_names import (
    NAME_FIELDS,
    CertificateName,
    NameKind,
    check_certificate_name,
    name_fields,
)
from keyloft.domain.errors import ValidationFailed
from tests.support.certificates import CertificateAuthority, Issued, self_signed

DN = "tlsClientAuthSubjectDn"
DNS = "tlsClientAuthSanDns"
URI = "tlsClientAuthSanUri"
IP = "tlsClientAuthSanIp"
EMAIL = "tlsClientAuthSanEmail"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("names"))


@pytest.fixture(scope="module")
def partner(ca: CertificateAuthority) -> Issued:
    return ca.issue(
        "partner",
        subject="CN=Partner  Service,OU=Payments,O=Acme GmbH,C=DE",
        dns=["api.partner.example", "*.wild.example"],
        uris=["spiffe://acme.example/ns/pay/sa/partner"],
        ips=["192.0.2.10", "2001:db8::1"],
        emails=["Ops.Team@Partner.Example"],
    )


def named(field: str, value: str) -> CertificateName:
    return check_certificate_name(field, value)


def test_the_five_fields_in_rfc_order() -> None:
    assert NAME_FIELDS == (DN, DNS, URI, IP, EMAIL)
    assert [kind.field for kind in NameKind] == list(NAME_FIELDS)


# --- subject DN ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dn",
    [
        "CN=Partner  Service,OU=Payments,O=Acme GmbH,C=DE",
        "CN=partner service,OU=payments,O=ACME GMBH,C=de",  # case
        "cn=Partner Service, ou=Payments, o=Acme GmbH, c=DE",  # names' case, spaces after ,
        "CN = Partner Service , OU=Payments,O=Acme   GmbH,C=DE",  # spaces around = and ,
        "2.5.4.3=Partner Service,OU=Payments,O=Acme GmbH,C=DE",  # an attribute by its OID
    ],
)
def test_a_subject_dn_matches_as_a_name(partner: Issued, dn: str) -> None:
    assert named(DN, dn).matches(partner.certificate)


@pytest.mark.parametrize(
    "dn",
    [
        "C=DE,O=Acme GmbH,OU=Payments,CN=Partner Service",  # the RDNs in another order
        "CN=Partner Service,OU=Payments,O=Acme GmbH",  # one RDN short
        "CN=Partner Service,OU=Payments,O=Acme GmbH,C=DE,DC=example",  # one RDN more
        "CN=Partner Service+OU=Payments,O=Acme GmbH,C=DE",  # two RDNs as one
        "CN=Partner Services,OU=Payments,O=Acme GmbH,C=DE",  # another value
        "O=Partner Service,OU=Payments,O=Acme GmbH,C=DE",  # another attribute type
        "CN=PartnerService,OU=Payments,O=Acme GmbH,C=DE",  # a space is not nothing
    ],
)
def test_a_subject_dn_that_differs_does_not_match(partner: Issued, dn: str) -> None:
    assert not named(DN, dn).matches(partner.certificate)


def test_a_multi_valued_rdn_matches_in_any_order(ca: CertificateAuthority) -> None:
    issued = ca.issue("multi", subject="CN=svc+UID=42,O=Acme")
    assert named(DN, "UID=42+CN=svc,O=Acme").matches(issued.certificate)
    assert named(DN, "CN=SVC+uid=42,O=acme").matches(issued.certificate)
    assert not named(DN, "CN=svc,UID=42,O=Acme").matches(issued.certificate)


def test_escaped_characters_are_part_of_the_value(ca: CertificateAuthority) -> None:
    issued = ca.issue("escaped", subject="CN=Smith\\, John,O=Acme")
    assert named(DN, "CN=Smith\\, John,O=Acme").matches(issued.certificate)
    assert named(DN, "CN=smith\\2c john,O=ACME").matches(issued.certificate)
    assert not named(DN, "CN=Smith,O=Acme").matches(issued.certificate)


@pytest.mark.parametrize(
    "dn",
    ["CN", "partner", "CN=a,,O=b", "XYZ=partner", "=partner", ",", "CN=a,O"],
)
def test_a_dn_that_does_not_parse_is_refused_naming_its_field(dn: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        named(DN, dn)
    assert refused.value.field == DN
    assert "RFC 4514" in refused.value.message


# --- subjectAltNames ----------------------------------------------------------------------------


def test_a_dns_name_matches_one_entry_ignoring_case(partner: Issued) -> None:
    assert named(DNS, "api.partner.example").matches(partner.certificate)
    assert named(DNS, "API.Partner.EXAMPLE").matches(partner.certificate)
    assert not named(DNS, "partner.example").matches(partner.certificate)
    assert not named(DNS, "x.api.partner.example").matches(partner.certificate)
    # A wildcard entry of the certificate is no wildcard: it names only itself.
    assert not named(DNS, "a.wild.example").matches(partner.certificate)


@pytest.mark.parametrize("value", ["*.wild.example", "a b.example", "-bad.example", "a..b", "é.x"])
def test_a_dns_name_that_is_none_is_refused(value: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        named(DNS, value)
    assert refused.value.field == DNS


def test_a_uri_matches_exactly(partner: Issued) -> None:
    assert named(URI, "spiffe://acme.example/ns/pay/sa/partner").matches(partner.certificate)
    assert not named(URI, "spiffe://acme.example/ns/pay/sa/Partner").matches(partner.certificate)
    assert not named(URI, "spiffe://acme.example/ns/pay/sa/partner/").matches(partner.certificate)
    for value in ("no-scheme/path", "spiffe://a b"):
        with pytest.raises(ValidationFailed) as refused:
            named(URI, value)
        assert refused.value.field == URI


def test_an_ip_address_matches_as_an_address(partner: Issued) -> None:
    assert named(IP, "2001:0db8:0000::0001").matches(partner.certificate)
    assert named(IP, "192.0.2.10").matches(partner.certificate)
    assert not named(IP, "192.0.2.11").matches(partner.certificate)
    assert not named(IP, "::ffff:192.0.2.10").matches(partner.certificate)  # IPv6, not IPv4
    assert named(IP, "2001:0DB8::0001").value == "2001:db8::1"  # stored in canonical form


@pytest.mark.parametrize("value", ["192.0.2.300", "2001:db8::g", "host.example", "fe80::1%eth0"])
def test_an_ip_address_that_is_none_is_refused(value: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        named(IP, value)
    assert refused.value.field == IP


def test_an_email_matches_its_local_part_exactly_and_its_domain_ignoring_case(
    partner: Issued,
) -> None:
    assert named(EMAIL, "Ops.Team@partner.example").matches(partner.certificate)
    assert not named(EMAIL, "ops.team@partner.example").matches(partner.certificate)
    assert not named(EMAIL, "Ops.Team@other.example").matches(partner.certificate)
    for value in ("no-at-sign", "@partner.example", "ops@", "o ps@partner.example"):
        with pytest.raises(ValidationFailed) as refused:
            named(EMAIL, value)
        assert refused.value.field == EMAIL


def test_a_san_of_another_type_never_matches(partner: Issued) -> None:
    """The DNS name as a URI, the address as a DNS name: each kind looks at its own type."""
    assert not named(URI, "dns://api.partner.example").matches(partner.certificate)
    assert not named(DNS, "ops.team").matches(partner.certificate)


def test_a_certificate_without_subject_alt_names_matches_no_san(tmp_path: Path) -> None:
    plain = self_signed(tmp_path, "plain", subject="CN=plain")
    assert named(DN, "CN=plain").matches(plain.certificate)
    for field, value in ((DNS, "plain"), (URI, "urn:x:plain"), (IP, "192.0.2.1")):
        assert not named(field, value).matches(plain.certificate)
    assert not named(EMAIL, "plain@example.com").matches(plain.certificate)


# --- every field --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", NAME_FIELDS)
@pytest.mark.parametrize(("value", "problem"), [("  ", "blank"), ("a\nb", "control"), (7, "str")])
def test_blank_control_characters_and_non_strings_are_refused(
    field: str, value: object, problem: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_certificate_name(field, value)
    assert refused.value.field == field
    assert problem in refused.value.message


def test_values_are_trimmed_and_kept_as_given() -> None:
    assert named(DN, "  CN=a, O=b  ") == CertificateName(NameKind.SUBJECT_DN, "CN=a, O=b")
    assert named(DNS, "API.example ").value == "API.example"


def test_the_api_fields_of_a_name_hold_its_value_and_none_else() -> None:
    assert name_fields(None) == dict.fromkeys(NAME_FIELDS)
    assert name_fields(named(URI, "urn:x:y")) == dict.fromkeys(NAME_FIELDS) | {URI: "urn:x:y"}

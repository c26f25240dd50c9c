"""The name a ``tls_client_auth`` client registers for its certificate (RFC 8705 §2.1.2): exactly
one of a subject distinguished name or a subjectAltName entry of one type, checked when it is
registered and matched against the certificate a client connects with.

Matching rules:

- **Subject DN** (``tlsClientAuthSubjectDn``): the RFC 4514 string is parsed, then compared with
  the certificate's subject RDN by RDN, in order, attribute types by OID. The attributes of a
  multi-valued RDN are compared as a set. Values are compared after NFKC normalisation, case
  folding, trimming and collapsing inner whitespace: a simplification of X.500 caseIgnoreMatch
  (RFC 4517/4518 string preparation does more). A DN with its RDNs in another order does not
  match. Attribute names are read ignoring case; spaces around ``,`` ``+`` ``=`` are allowed.
- **SAN dNSName** (``tlsClientAuthSanDns``): one entry equal, ignoring ASCII case; no wildcard
  is expanded on either side (a registered name may not hold ``*``).
- **SAN uniformResourceIdentifier** (``tlsClientAuthSanUri``): one entry exactly equal.
- **SAN iPAddress** (``tlsClientAuthSanIp``): one entry equal as an address (``2001:db8::1``
  equals ``2001:0db8::1``; an IPv4 address never equals an IPv6 one); stored in canonical form.
- **SAN rfc822Name** (``tlsClientAuthSanEmail``): one entry whose local part is equal and whose
  domain is equal ignoring case.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from keyloft.domain.errors import ValidationFailed


class NameKind(StrEnum):
    """Which name of the certificate is registered (RFC 8705 §2.1.2's metadata, without its
    ``tls_client_auth_`` prefix); ``field`` is the API's field for it."""

    SUBJECT_DN = "subject_dn"
    SAN_DNS = "san_dns"
    SAN_URI = "san_uri"
    SAN_IP = "san_ip"
    SAN_EMAIL = "san_email"

    @property
    def field(self) -> str:
        return _FIELDS[self]


_FIELDS = {
    NameKind.SUBJECT_DN: "tlsClientAuthSubjectDn",
    NameKind.SAN_DNS: "tlsClientAuthSanDns",
    NameKind.SAN_URI: "tlsClientAuthSanUri",
    NameKind.SAN_IP: "tlsClientAuthSanIp",
    NameKind.SAN_EMAIL: "tlsClientAuthSanEmail",
}
NAME_FIELDS = tuple(_FIELDS.values())
"""The API's five name fields, in the order RFC 8705 lists them."""
KIND_OF_FIELD = {name: kind for kind, name in _FIELDS.items()}
_MAX_LENGTH = {
    NameKind.SUBJECT_DN: 1024,
    NameKind.SAN_DNS: 253,
    NameKind.SAN_URI: 2048,
    NameKind.SAN_IP: 45,
    NameKind.SAN_EMAIL: 320,
}
MAX_NAME_LENGTH = {_FIELDS[kind]: limit for kind, limit in _MAX_LENGTH.items()}
"""The longest value of each of the API's name fields."""
_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")

DnKey = tuple[tuple[tuple[str, str | bytes], ...], ...]


class _AttributeNames(Mapping[str, ObjectIdentifier]):
    """RFC 4514 attribute type names (and a few that OpenSSL prints), read ignoring case."""

    _NAMES: dict[str, ObjectIdentifier] = {
        "CN": NameOID.COMMON_NAME,
        "L": NameOID.LOCALITY_NAME,
        "ST": NameOID.STATE_OR_PROVINCE_NAME,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "C": NameOID.COUNTRY_NAME,
        "STREET": NameOID.STREET_ADDRESS,
        "DC": NameOID.DOMAIN_COMPONENT,
        "UID": NameOID.USER_ID,
        "SERIALNUMBER": NameOID.SERIAL_NUMBER,
        "E": NameOID.EMAIL_ADDRESS,
        "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
        "GN": NameOID.GIVEN_NAME,
        "GIVENNAME": NameOID.GIVEN_NAME,
        "SN": NameOID.SURNAME,
        "SURNAME": NameOID.SURNAME,
        "TITLE": NameOID.TITLE,
        "POSTALCODE": NameOID.POSTAL_CODE,
        "DNQUALIFIER": NameOID.DN_QUALIFIER,
        "ORGANIZATIONIDENTIFIER": NameOID.ORGANIZATION_IDENTIFIER,
    }

    def __getitem__(self, name: str) -> ObjectIdentifier:
        return self._NAMES[name.upper()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._NAMES)

    def __len__(self) -> int:
        return len(self._NAMES)


_ATTRIBUTE_NAMES = _AttributeNames()


def _tidy_dn(text: str) -> str:
    """The DN without the unescaped spaces around ``,``, ``+`` and an attribute's ``=``, which
    RFC 4514 does not allow but people write (``CN=partner, O=Acme``)."""
    out: list[str] = []
    spaces = ""
    in_value = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(spaces + text[index : index + 2])
            spaces, index = "", index + 2
            continue
        if char == " ":
            spaces += char
            index += 1
            continue
        if char in ",+" or (char == "=" and not in_value):
            in_value = char == "="
            out.append(char)
            spaces = ""
            index += 1
            while index < len(text) and text[index] == " ":
                index += 1
            continue
        out.append(spaces + char)
        spaces = ""
        index += 1
    return "".join(out)


def parse_dn(text: str) -> x509.Name:
    """A distinguished name in RFC 4514 form; ``ValueError`` when it is not one."""
    name = x509.Name.from_rfc4514_string(_tidy_dn(text.strip()), _ATTRIBUTE_NAMES)
    if not name.rdns:
        raise ValueError("no RDN")
    return name


def _fold(value: str | bytes) -> str | bytes:
    if isinstance(value, bytes):
        return value
    return " ".join(unicodedata.normalize("NFKC", value).split()).casefold()


def dn_key(name: x509.Name) -> DnKey:
    """What two names are compared by: each RDN's attributes as sorted (OID, folded value)."""
    return tuple(
        tuple(
            sorted(
                ((attribute.oid.dotted_string, _fold(attribute.value)) for attribute in rdn),
                key=repr,
            )
        )
        for rdn in name.rdns
    )


@dataclass(frozen=True, slots=True)
class CertificateName:
    """A registered name: ``value`` as registered (an IP address in canonical form)."""

    kind: NameKind
    value: str
    _expected: object = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        expected: object
        if self.kind is NameKind.SUBJECT_DN:
            expected = dn_key(parse_dn(self.value))
        elif self.kind is NameKind.SAN_IP:
            expected = ipaddress.ip_address(self.value)
        elif self.kind is NameKind.SAN_DNS:
            expected = self.value.lower()
        elif self.kind is NameKind.SAN_EMAIL:
            expected = _email(self.value)
        else:
            expected = self.value
        object.__setattr__(self, "_expected", expected)

    @property
    def field(self) -> str:
        return self.kind.field

    def matches(self, certificate: x509.Certificate) -> bool:
        """Whether ``certificate`` carries this name (see the module's rules)."""
        expected = self._expected
        if self.kind is NameKind.SUBJECT_DN:
            try:
                return dn_key(certificate.subject) == expected
            except ValueError:
                return False
        names = _subject_alt_names(certificate)
        if names is None:
            return False
        if self.kind is NameKind.SAN_DNS:
            return any(dns.lower() == expected for dns in names.get_values_for_type(x509.DNSName))
        if self.kind is NameKind.SAN_URI:
            return expected in names.get_values_for_type(x509.UniformResourceIdentifier)
        if self.kind is NameKind.SAN_IP:
            return any(address == expected for address in names.get_values_for_type(x509.IPAddress))
        return any(_email(mail) == expected for mail in names.get_values_for_type(x509.RFC822Name))


def _email(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain.lower()


def _subject_alt_names(certificate: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):  # none, or extensions that do not parse
        return None


def check_certificate_name(field_name: str, value: object) -> CertificateName:
    """The name given in the API's field ``field_name`` (one of ``NAME_FIELDS``), checked."""
    kind = KIND_OF_FIELD[field_name]
    if not isinstance(value, str):
        raise ValidationFailed(f"{field_name} must be a string.", field=field_name)
    text = value.strip()
    if not text:
        raise ValidationFailed(f"{field_name} must not be blank.", field=field_name)
    if len(text) > _MAX_LENGTH[kind]:
        raise ValidationFailed(
            f"{field_name} allows at most {_MAX_LENGTH[kind]} characters.", field=field_name
        )
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise ValidationFailed(f"{field_name} contains control characters.", field=field_name)
    problem = _PROBLEMS[kind](text)
    if problem is not None:
        raise ValidationFailed(f"{field_name} {problem}", field=field_name)
    if kind is NameKind.SAN_IP:
        text = str(ipaddress.ip_address(text))
    return CertificateName(kind, text)


def _dn_problem(text: str) -> str | None:
    try:
        parse_dn(text)
    except ValueError:  # also UnicodeDecodeError, of a #hex value that is not UTF-8
        return (
            "is not a distinguished name in RFC 4514 form (such as CN=partner,O=Acme,C=DE), "
            "or names an attribute type Keyloft does not know (give its OID, as 2.5.4.3=…)."
        )
    return None


def _dns_problem(text: str) -> str | None:
    if "*" in text:
        return "must name one exact dNSName: wildcards are not matched."
    if not _DNS_NAME.fullmatch(text):
        return "is not a DNS name (letters, digits, hyphens and dots, such as client.example.com)."
    return None


def _uri_problem(text: str) -> str | None:
    try:
        absolute = bool(urlsplit(text).scheme)
    except ValueError:
        absolute = False
    if not absolute or any(char.isspace() for char in text):
        return "is not an absolute URI (such as spiffe://example.org/partner)."
    return None


def _ip_problem(text: str) -> str | None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return "is not an IPv4 or IPv6 address."
    return "must not carry a zone (%…)." if "%" in text else None


def _email_problem(text: str) -> str | None:
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or any(char.isspace() for char in text):
        return "is not an email address (such as partner@example.com)."
    return None


_PROBLEMS = {
    NameKind.SUBJECT_DN: _dn_problem,
    NameKind.SAN_DNS: _dns_problem,
    NameKind.SAN_URI: _uri_problem,
    NameKind.SAN_IP: _ip_problem,
    NameKind.SAN_EMAIL: _email_problem,
}


def name_fields(name: CertificateName | None) -> dict[str, str | None]:
    """The API's five name fields for ``name``: its own holds its value, the others null."""
    return {field_name: None for field_name in NAME_FIELDS} | (
        {name.field: name.value} if name is not None else {}
    )

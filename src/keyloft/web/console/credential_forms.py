"""Reading the console's forms about how a client proves itself (its method, public keys, key
set URL, federated credentials, and the name a tls_client_auth client's certificate carries)
into the ``CredentialRequest`` the services take, and naming the form field a service's refusal
is about, in words that fit beside that field.

Only the shape of the input is handled here (JSON text to a JWK Set, lines to lists); whether a
key, URL or rule is acceptable is for the domain's checks, which ``ClientService.update`` runs.
A form changes one thing and sends the rest of the client's credentials as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from keyloft.domain.certificate_names import NAME_FIELDS, NameKind
from keyloft.domain.client_keys import PRIVATE_MEMBERS
from keyloft.domain.clients import (
    CLIENT_SECRET,
    PRIVATE_KEY_JWT,
    SELF_SIGNED_TLS,
    TLS_CLIENT_AUTH,
    Client,
)
from keyloft.domain.errors import KeyloftError, ValidationFailed
from keyloft.services.client_requests import KEEP, CredentialRequest

MAX_PASTE = 64 * 1024
METHOD = "tokenEndpointAuthMethod"
JWK = "jwk"
JWKS_URI = "jwksUri"
TLS_NAME = "tlsClientAuthName"
"""The form field choosing which of the certificate's names a tls_client_auth client names (the
API field's name: ``tlsClientAuthSubjectDn``...)."""
TLS_VALUE = "tlsClientAuthValue"
"""The form field holding that name."""
METHOD_CHOICES = (
    (CLIENT_SECRET, "client_secret_basic: a secret, shown once"),
    (PRIVATE_KEY_JWT, "private_key_jwt: signed assertions, no secret"),
    (TLS_CLIENT_AUTH, "tls_client_auth: a TLS certificate from a trusted CA, no secret"),
    (SELF_SIGNED_TLS, "self_signed_tls_client_auth: its TLS certificate, no secret"),
)
TLS_NAME_CHOICES = (
    (NameKind.SUBJECT_DN.field, "Subject DN"),
    (NameKind.SAN_DNS.field, "SAN: DNS name"),
    (NameKind.SAN_URI.field, "SAN: URI"),
    (NameKind.SAN_IP.field, "SAN: IP address"),
    (NameKind.SAN_EMAIL.field, "SAN: email address"),
)
TLS_NAME_LABELS = dict(TLS_NAME_CHOICES)
# A rule's members as the API names them, and the form fields that hold them.
RULE_FIELDS = {
    "name": "ruleName",
    "issuer": "ruleIssuer",
    "subject": "ruleSubject",
    "audiences": "ruleAudiences",
    "claims": "ruleClaims",
    "maxAgeSeconds": "ruleMaxAgeSeconds",
}
_KEY_AT = re.compile(r"jwks\.keys\[(\d+)\](?:\.(\w+))?")
_RULE_AT = re.compile(r"federatedCredentials\[\d+\]\.(\w+)")
_CREDENTIAL_FIELD = re.compile(
    rf"(jwks|{JWKS_URI}|federatedCredentials|{METHOD}|tlsClientAuth\w+)\b"
)


@dataclass
class RuleFields:
    """A federated credential as typed: audiences one per line or comma-separated, required
    claims as ``name=value`` lines."""

    name: str = ""
    issuer: str = ""
    subject: str = ""
    audiences: str = ""
    claims: str = ""
    max_age_seconds: str = ""

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> RuleFields:
        return cls(
            name=fields.get("ruleName", "").strip(),
            issuer=fields.get("ruleIssuer", "").strip(),
            subject=fields.get("ruleSubject", "").strip(),
            audiences=fields.get("ruleAudiences", ""),
            claims=fields.get("ruleClaims", ""),
            max_age_seconds=fields.get("ruleMaxAgeSeconds", "").strip(),
        )

    @property
    def blank(self) -> bool:
        typed = (self.name, self.issuer, self.subject, self.audiences, self.claims)
        return not any(text.strip() for text in (*typed, self.max_age_seconds))

    def to_rule(self) -> dict[str, Any]:
        """The rule as the API takes it (``federatedCredentials[i]``)."""
        rule: dict[str, Any] = {
            "name": self.name,
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": _audiences(self.audiences),
            "claims": _claims(self.claims),
        }
        if self.max_age_seconds:
            if not re.fullmatch(r"[0-9]{1,9}", self.max_age_seconds):
                raise ValidationFailed(
                    "maxAgeSeconds must be a whole number of seconds.", field="ruleMaxAgeSeconds"
                )
            rule["maxAgeSeconds"] = int(self.max_age_seconds)
        return rule


def _audiences(text: str) -> list[str]:
    """One audience per line or comma-separated; none: the deployment's issuer."""
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


def _claims(text: str) -> dict[str, str]:
    """``name=value`` lines, each value matched as text; blank lines are ignored."""
    claims: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ValidationFailed(
                f"Line {number} of the claims is not name=value.", field="ruleClaims"
            )
        if name in claims:
            raise ValidationFailed(
                f"The claim {name} is given twice (line {number}).", field="ruleClaims"
            )
        claims[name] = value.strip()
    return claims


def pasted_keys(text: str) -> list[Any]:
    """The JWKs of a pasted JWK (a JSON object with ``kty``) or JWK Set (``{"keys": [...]}``),
    as sent; checked by the domain when the change is made."""
    text = text.strip()
    if not text:
        raise ValidationFailed("Paste a public key: a JWK or a JWK Set, as JSON.", field=JWK)
    if len(text) > MAX_PASTE:
        raise ValidationFailed(f"The key allows at most {MAX_PASTE} characters.", field=JWK)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise ValidationFailed("The key is not valid JSON.", field=JWK) from None
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        keys: list[Any] = document["keys"]
        if not keys:
            raise ValidationFailed("The JWK Set holds no key.", field=JWK)
        return keys
    if isinstance(document, dict) and "kty" in document:
        return [document]
    raise ValidationFailed(
        'Paste a JWK (a JSON object with "kty") or a JWK Set ({"keys": [...]}).', field=JWK
    )


@dataclass
class CredentialForm:
    """What the credential fields hold, as typed, for showing them again: the create form's
    method and first credential, or the client page's forms."""

    auth_method: str = CLIENT_SECRET
    jwk: str = ""
    jwks_uri: str = ""
    rule: RuleFields = field(default_factory=RuleFields)
    tls_name: str = NameKind.SUBJECT_DN.field
    tls_value: str = ""

    @classmethod
    def from_fields(
        cls, fields: Mapping[str, str], default: CredentialForm | None = None
    ) -> CredentialForm:
        """The posted fields, and for those not posted what ``default`` holds."""
        held = default or cls()
        return cls(
            auth_method=fields.get(METHOD, held.auth_method).strip(),
            jwk=fields.get(JWK, held.jwk),
            jwks_uri=fields.get(JWKS_URI, held.jwks_uri).strip(),
            rule=RuleFields.from_fields(fields) if "ruleName" in fields else held.rule,
            tls_name=fields.get(TLS_NAME, held.tls_name).strip(),
            tls_value=fields.get(TLS_VALUE, held.tls_value),
        )

    @classmethod
    def of(cls, client: Client) -> CredentialForm:
        """The client page's forms as they start: the key set URL and the certificate name
        the client holds."""
        name = client.credentials.tls_name
        return cls(
            auth_method=client.auth_method,
            jwks_uri=client.credentials.jwks_uri or "",
            tls_name=name.field if name is not None else NameKind.SUBJECT_DN.field,
            tls_value=name.value if name is not None else "",
        )

    def to_request(self) -> CredentialRequest:
        """The create form's choice: a private_key_jwt client starts with what was given of a
        key (or key set), a key set URL and a first federated credential; a
        self_signed_tls_client_auth client with the pasted key (or key set) naming its
        certificate, and nothing else; a tls_client_auth client with the name its certificate
        carries."""
        if self.auth_method == TLS_CLIENT_AUTH:
            return CredentialRequest(
                auth_method=TLS_CLIENT_AUTH, tls_names=tls_names(self.tls_name, self.tls_value)
            )
        if self.auth_method == SELF_SIGNED_TLS:
            return CredentialRequest(
                auth_method=SELF_SIGNED_TLS, jwks={"keys": pasted_keys(self.jwk)}
            )
        if self.auth_method != PRIVATE_KEY_JWT:
            return CredentialRequest(auth_method=self.auth_method or None)
        return CredentialRequest(
            auth_method=PRIVATE_KEY_JWT,
            jwks={"keys": pasted_keys(self.jwk)} if self.jwk.strip() else KEEP,
            jwks_uri=self.jwks_uri or KEEP,
            federated=[self.rule.to_rule()] if not self.rule.blank else KEEP,
        )

    def forget_private_key(self) -> bool:
        """Blank the pasted text when it holds private or symmetric key material, so that the
        page sent back with a refusal does not carry it; True when it did."""
        try:
            keys = pasted_keys(self.jwk)
        except ValidationFailed:
            return False
        if not any(isinstance(key, Mapping) and _private(key) for key in keys):
            return False
        self.jwk = ""
        return True


def tls_names(chosen: str, value: str) -> dict[str, str]:
    """The certificate name as the API takes it: ``value`` in the chosen name's field."""
    if chosen not in NAME_FIELDS:
        raise ValidationFailed("Choose which name of the certificate to match.", field=TLS_NAME)
    return {chosen: value}


def _private(jwk: Mapping[str, Any]) -> bool:
    return any(member in jwk for member in PRIVATE_MEMBERS)


def about_credentials(api_field: str | None) -> bool:
    """Whether a refusal names a credential field of the API (else a field of the client)."""
    return api_field is not None and _CREDENTIAL_FIELD.match(api_field) is not None


def explain(
    error: KeyloftError, *, keys_before: int = 0, pasted: int = 0
) -> tuple[str | None, str]:
    """The form field a refusal of credentials is about (None: no credential field) and its
    message in the form's words: a key by its place among those pasted, a rule's member
    without the rule's index (the form adds one rule at a time)."""
    api_field, message = error.field, error.message
    if api_field is None:
        return None, message
    if api_field == "jwks" or api_field.startswith("jwks."):

        def key_label(found: re.Match[str]) -> str:
            index = int(found.group(1))
            if index < keys_before:
                label = f"Registered key {index + 1}"
            elif pasted == 1:
                label = "The key"
            else:
                label = f"Pasted key {index - keys_before + 1}"
            return f"{label}'s {found.group(2)}" if found.group(2) else label

        return JWK, _KEY_AT.sub(key_label, message)
    if api_field == JWKS_URI:
        return JWKS_URI, message
    if api_field == METHOD:
        return METHOD, message
    if api_field in NAME_FIELDS:
        return TLS_VALUE, message
    if api_field == TLS_NAME:
        return TLS_NAME, message
    rule_member = _RULE_AT.match(api_field)
    if rule_member is not None:
        form_field = RULE_FIELDS.get(rule_member.group(1))
        return form_field, _RULE_AT.sub(r"\1", message, count=1)
    if api_field in RULE_FIELDS.values():
        return api_field, message
    return None, message


@dataclass
class CredentialChange:
    """One form of the client page: reads its change against the client as it stands, and
    says which of its fields a refusal is about (``owns``; others are the page's problem)."""

    owns: frozenset[str]
    build: Callable[[Client], CredentialRequest]
    keys_before: int = 0
    pasted: int = 0

    def read(self, client: Client) -> CredentialRequest:
        self.keys_before = len(client.credentials.jwks)
        return self.build(client)

    def explain(self, error: KeyloftError) -> tuple[str | None, str]:
        found, message = explain(error, keys_before=self.keys_before, pasted=self.pasted)
        return (found if found in self.owns else None), message


def _jwks(client: Client) -> list[dict[str, Any]]:
    return [dict(key.jwk) for key in client.credentials.jwks]


def _rules(client: Client) -> list[dict[str, Any]]:
    return [rule.as_dict() for rule in client.credentials.federated]


def add_keys(text: str) -> CredentialChange:
    def build(client: Client) -> CredentialRequest:
        keys = pasted_keys(text)
        change.pasted = len(keys)
        return CredentialRequest(jwks={"keys": [*_jwks(client), *keys]})

    change = CredentialChange(frozenset({JWK}), build)
    return change


def remove_key(thumbprint: str) -> CredentialChange:
    def build(client: Client) -> CredentialRequest:
        held = client.credentials.jwks
        kept = [dict(key.jwk) for key in held if key.thumbprint != thumbprint]
        if len(kept) == len(held):
            raise ValidationFailed("The client has no key with this thumbprint.")
        return CredentialRequest(jwks={"keys": kept} if kept else None)

    return CredentialChange(frozenset(), build)


def set_jwks_uri(text: str) -> CredentialChange:
    """A URL to fetch the client's keys from; an empty one clears it."""
    uri = text.strip()
    return CredentialChange(
        frozenset({JWKS_URI}), lambda _: CredentialRequest(jwks_uri=uri or None)
    )


def add_rule(typed: RuleFields) -> CredentialChange:
    def build(client: Client) -> CredentialRequest:
        return CredentialRequest(federated=[*_rules(client), typed.to_rule()])

    return CredentialChange(frozenset(RULE_FIELDS.values()), build)


def remove_rule(name: str) -> CredentialChange:
    def build(client: Client) -> CredentialRequest:
        kept = [rule for rule in _rules(client) if rule["name"] != name]
        if len(kept) == len(client.credentials.federated):
            raise ValidationFailed(f"The client has no federated credential {name!r}.")
        return CredentialRequest(federated=kept or None)

    return CredentialChange(frozenset(), build)


def switch_method(method: str, tls_name: str = "", tls_value: str = "") -> CredentialChange:
    """A switch to ``method``; to tls_client_auth, with the name its certificate carries."""

    def build(client: Client) -> CredentialRequest:
        if not method:
            raise ValidationFailed("Choose the method to switch to.", field=METHOD)
        if method == client.auth_method:
            raise ValidationFailed(f"The client already uses {method}.", field=METHOD)
        if method == TLS_CLIENT_AUTH:
            return CredentialRequest(auth_method=method, tls_names=tls_names(tls_name, tls_value))
        return CredentialRequest(auth_method=method)

    return CredentialChange(frozenset({METHOD, TLS_NAME, TLS_VALUE}), build)


def set_tls_name(tls_name: str, tls_value: str) -> CredentialChange:
    """A new name for a tls_client_auth client's certificate."""

    def build(client: Client) -> CredentialRequest:
        if client.auth_method != TLS_CLIENT_AUTH:
            raise ValidationFailed(
                "Only a tls_client_auth client names its certificate.", field=TLS_VALUE
            )
        return CredentialRequest(tls_names=tls_names(tls_name, tls_value))

    return CredentialChange(frozenset({TLS_NAME, TLS_VALUE}), build)

"""Request and response shapes of dynamic client registration (RFC 7591) and client
configuration (RFC 7592), as Pydantic models: they type-check the metadata and feed OpenAPI.

Metadata this server does not understand is accepted and ignored (RFC 7591 §2), never stored
or answered; ``client_id`` and ``client_secret`` in a registration are ignored too (a client
never chooses its own).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.config import JsonDict

from keyloft.domain.certificate_names import NameKind
from keyloft.domain.registration import (
    ISSUED_FIELDS,
    TLS_NAME_PREFIX,
    ClientMetadata,
)
from keyloft.web.openapi.rules import JSON_SAFE_MAX, SCOPE, matching, nullable
from keyloft.web.schemas import (
    DESCRIPTION_SCHEMA,
    NAME_SCHEMA,
    TTL_SCHEMA,
    ClientCreate,
    ScopeIn,
    Whole,
)


@cache
def _properties(model: type[BaseModel]) -> dict[str, JsonDict]:
    properties: dict[str, JsonDict] = model.model_json_schema()["properties"]
    return properties


def _field_schema(name: str) -> JsonDict:
    """The schema of the management API's field ``name``, which this one is checked as."""
    schema = _properties(ScopeIn if name == "resources" else ClientCreate)[name]
    return {key: value for key, value in schema.items() if key not in ("title", "description")}


RegisteredAuthMethod = Literal[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
]


def _names_only_for_tls() -> JsonDict:
    """A tls_client_auth_* name only with tls_client_auth, and then exactly one of them."""
    names = [TLS_NAME_PREFIX + kind.value for kind in NameKind]
    holds: list[JsonValue] = [
        {"required": [name], "properties": {name: {"type": "string"}}} for name in names
    ]
    return {
        "if": {
            "required": ["token_endpoint_auth_method"],
            "properties": {"token_endpoint_auth_method": {"const": "tls_client_auth"}},
        },
        "then": {"oneOf": holds},
        "else": {"properties": {name: {"type": "null"} for name in names}},
    }


REGISTRATION_RULES: JsonDict = {
    "required": ["client_name", "scope"],
    # RFC 7591 §2: jwks and jwks_uri are not both present.
    "not": {
        "required": ["jwks", "jwks_uri"],
        "properties": {"jwks": {"type": "object"}, "jwks_uri": {"type": "string"}},
    },
    "allOf": [_names_only_for_tls()],
}


class ClientRegistrationRequest(BaseModel):
    """RFC 7591 §2 client metadata, as Keyloft maps it onto a client."""

    model_config = ConfigDict(strict=True, extra="ignore", json_schema_extra=REGISTRATION_RULES)

    client_name: str | None = Field(
        default=None,
        description="Required: the client's name, 1 to 100 characters, unique among the org's "
        "active clients.",
        json_schema_extra=NAME_SCHEMA | {"type": "string"},
    )
    token_endpoint_auth_method: RegisteredAuthMethod | None = Field(
        default=None,
        description="Default client_secret_basic. Either secret method issues a client_secret, "
        "usable with Basic and in the form alike; private_key_jwt needs jwks or jwks_uri; "
        "tls_client_auth one tls_client_auth_* name; self_signed_tls_client_auth its "
        "certificate in jwks.",
    )
    grant_types: list[str] | None = Field(
        default=None,
        description='Absent or ["client_credentials"]: the only grant here.',
        json_schema_extra=nullable(
            {"type": "array", "items": {"type": "string", "enum": ["client_credentials"]}}
        ),
    )
    response_types: list[str] | None = Field(
        default=None,
        description="Absent or empty.",
        json_schema_extra=nullable({"type": "array", "items": {"type": "string"}, "maxItems": 0}),
    )
    redirect_uris: list[str] | None = Field(
        default=None,
        description="Absent or empty: nothing is redirected here.",
        json_schema_extra=nullable({"type": "array", "items": {"type": "string"}, "maxItems": 0}),
    )
    scope: str | None = Field(
        default=None,
        description="Required: space-separated <Entity>:<read|write|readwrite> items naming "
        "the org's scope entities (GET /v3/integrations/scopes), e.g. "
        '"TargetGroups:readwrite All:read". A token registering a client can give no more than '
        "it holds.",
        json_schema_extra={"type": "string", **matching(SCOPE)},
    )
    jwks: dict[str, Any] | None = Field(
        default=None,
        description='The client\'s public keys, {"keys": [JWK, ...]}: RSA (2048 bits or more), '
        "EC P-256, P-384 or P-521, Ed25519; at most 10; no private members. Not with jwks_uri.",
        json_schema_extra=_field_schema("jwks"),
    )
    jwks_uri: str | None = Field(
        default=None,
        description="An https URL serving the client's JWK Set. Not with jwks.",
        json_schema_extra=_field_schema("jwksUri"),
    )
    tls_client_auth_subject_dn: str | None = Field(
        default=None,
        description="tls_client_auth (RFC 8705 §2.1.2): the certificate's subject DN.",
        json_schema_extra=_field_schema("tlsClientAuthSubjectDn"),
    )
    tls_client_auth_san_dns: str | None = Field(
        default=None,
        description="tls_client_auth: a dNSName subjectAltName.",
        json_schema_extra=_field_schema("tlsClientAuthSanDns"),
    )
    tls_client_auth_san_uri: str | None = Field(
        default=None,
        description="tls_client_auth: a uniformResourceIdentifier subjectAltName.",
        json_schema_extra=_field_schema("tlsClientAuthSanUri"),
    )
    tls_client_auth_san_ip: str | None = Field(
        default=None,
        description="tls_client_auth: an iPAddress subjectAltName.",
        json_schema_extra=_field_schema("tlsClientAuthSanIp"),
    )
    tls_client_auth_san_email: str | None = Field(
        default=None,
        description="tls_client_auth: an rfc822Name subjectAltName.",
        json_schema_extra=_field_schema("tlsClientAuthSanEmail"),
    )
    dpop_bound_access_tokens: bool | None = Field(
        default=None,
        description="RFC 9449 §5.2: every token request must carry a DPoP proof (default false).",
    )
    tls_client_certificate_bound_access_tokens: bool | None = Field(
        default=None,
        description="RFC 8705 §3.4: tokens bound to the client's TLS certificate (default false).",
    )
    keyloft_description: str | None = Field(
        default=None,
        description="Keyloft: the client's description, up to 500 characters.",
        json_schema_extra=nullable(DESCRIPTION_SCHEMA | {"type": "string"}),
    )
    keyloft_token_lifetime: Whole | None = Field(
        default=None,
        description="Keyloft: its tokens' lifetime in seconds (default: the org's cap).",
        json_schema_extra=nullable(TTL_SCHEMA | {"type": "integer"}),
    )
    keyloft_default_till_id: Whole | None = Field(
        default=None,
        description="Keyloft: the Till the client acts as (default: the calling Till, or the "
        "org's only one).",
        json_schema_extra=nullable({"type": "integer", "minimum": 1, "maximum": JSON_SAFE_MAX}),
    )
    keyloft_scope_resources: dict[str, list[str]] | None = Field(
        default=None,
        description="Keyloft: RE2 resource patterns narrowing an entity of scope, by entity "
        'name, e.g. {"TargetGroups": [".*v3/targetGroups.*"]}.',
        json_schema_extra=nullable(
            {"type": "object", "additionalProperties": _field_schema("resources")}
        ),
    )

    def metadata(self) -> ClientMetadata:
        return ClientMetadata(
            client_name=self.client_name,
            token_endpoint_auth_method=self.token_endpoint_auth_method,
            grant_types=self.grant_types,
            response_types=self.response_types,
            redirect_uris=self.redirect_uris,
            scope=self.scope,
            jwks=self.jwks,
            jwks_uri=self.jwks_uri,
            tls_names={
                kind: value
                for kind in NameKind
                if (value := getattr(self, TLS_NAME_PREFIX + kind.value)) is not None
            },
            dpop_bound_access_tokens=self.dpop_bound_access_tokens,
            tls_client_certificate_bound_access_tokens=(
                self.tls_client_certificate_bound_access_tokens
            ),
            description=self.keyloft_description,
            token_lifetime=self.keyloft_token_lifetime,
            default_till_id=self.keyloft_default_till_id,
            scope_resources=self.keyloft_scope_resources,
        )


class ClientUpdateRequest(ClientRegistrationRequest):
    """RFC 7592 §2.2: the whole metadata again (a field left out is reset to its default),
    with the client's ``client_id``; none of the fields the server issues."""

    # Kept, not ignored: an issued field sent is refused, so it must be seen.
    model_config = ConfigDict(strict=True, extra="allow")

    client_id: str | None = Field(default=None, description="Required: the client's own.")
    client_secret: str | None = Field(
        default=None,
        description="If sent, the client's current secret; it is never changed.",
    )

    def metadata(self) -> ClientMetadata:
        extra = self.model_extra or {}
        return replace(
            super().metadata(),
            client_id=self.client_id,
            client_secret=self.client_secret,
            issued_fields=tuple(name for name in ISSUED_FIELDS if name in extra),
        )


class ClientInformation(BaseModel):
    """RFC 7591 §3.2.1 / RFC 7592 §3: the client's identifier, credentials and metadata."""

    client_id: str
    client_secret: str | None = Field(
        default=None,
        description="Only in the answer that issued it: never shown again.",
    )
    client_id_issued_at: int = Field(description="Seconds since the epoch.")
    client_secret_expires_at: int | None = Field(
        default=None,
        description="For a client with a secret: when it expires, in seconds since the epoch "
        "(the org's default secret lifetime), or 0 for never; absent otherwise.",
    )
    registration_access_token: str = Field(
        description="Bearer token for registration_client_uri; every update replaces it."
    )
    registration_client_uri: str
    client_name: str
    token_endpoint_auth_method: str
    grant_types: list[str]
    response_types: list[str]
    scope: str
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    tls_client_auth_subject_dn: str | None = None
    tls_client_auth_san_dns: str | None = None
    tls_client_auth_san_uri: str | None = None
    tls_client_auth_san_ip: str | None = None
    tls_client_auth_san_email: str | None = None
    dpop_bound_access_tokens: bool
    tls_client_certificate_bound_access_tokens: bool
    keyloft_description: str
    keyloft_token_lifetime: int
    keyloft_default_till_id: int
    keyloft_scope_resources: dict[str, list[str]] | None = None


class RegistrationError(BaseModel):
    """RFC 7591 §3.2.2 (and RFC 6750 §3.1 for tokens)."""

    error: str = Field(
        description="invalid_client_metadata, invalid_redirect_uri, invalid_request, "
        "invalid_token, insufficient_scope, access_denied, slow_down, …"
    )
    error_description: str

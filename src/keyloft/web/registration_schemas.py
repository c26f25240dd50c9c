"""Request and response shapes of dynamic client registration (RFC 7591) and client
configuration (RFC 7592), as Pydantic models: they type-check the metadata and feed OpenAPI.

Metadata this server does not understand is accepted and ignored (RFC 7591 §2), never stored
or answered; ``client_id`` and ``client_secret`` in a registration are ignored too (a client
never chooses its own).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from keyloft.domain.certificate_names import NameKind
from keyloft.domain.registration import (
    ISSUED_FIELDS,
    TLS_NAME_PREFIX,
    ClientMetadata,
)

RegisteredAuthMethod = Literal[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
]


class ClientRegistrationRequest(BaseModel):
    """RFC 7591 §2 client metadata, as Keyloft maps it onto a client."""

    model_config = ConfigDict(strict=True, extra="ignore")

    client_name: str | None = Field(
        default=None,
        description="Required: the client's name, 1 to 100 characters, unique among the org's "
        "active clients.",
    )
    token_endpoint_auth_method: RegisteredAuthMethod | None = Field(
        default=None,
        description="Default client_secret_basic. Either secret method issues a client_secret, "
        "usable with Basic and in the form alike; private_key_jwt needs jwks or jwks_uri; "
        "tls_client_auth one tls_client_auth_* name; self_signed_tls_client_auth its "
        "certificate in jwks.",
    )
    grant_types: list[str] | None = Field(
        default=None, description='Absent or ["client_credentials"]: the only grant here.'
    )
    response_types: list[str] | None = Field(default=None, description="Absent or empty.")
    redirect_uris: list[str] | None = Field(
        default=None, description="Absent or empty: nothing is redirected here."
    )
    scope: str | None = Field(
        default=None,
        description="Required: space-separated <Entity>:<read|write|readwrite> items naming "
        "the org's scope entities (GET /v3/integrations/scopes), e.g. "
        '"TargetGroups:readwrite All:read". A token registering a client can give no more than '
        "it holds.",
    )
    jwks: dict[str, Any] | None = Field(
        default=None,
        description='The client\'s public keys, {"keys": [JWK, ...]}: RSA (2048 bits or more), '
        "EC P-256, P-384 or P-521, Ed25519; at most 10; no private members. Not with jwks_uri.",
    )
    jwks_uri: str | None = Field(
        default=None, description="An https URL serving the client's JWK Set. Not with jwks."
    )
    tls_client_auth_subject_dn: str | None = Field(
        default=None, description="tls_client_auth (RFC 8705 §2.1.2): the certificate's subject DN."
    )
    tls_client_auth_san_dns: str | None = Field(
        default=None, description="tls_client_auth: a dNSName subjectAltName."
    )
    tls_client_auth_san_uri: str | None = Field(
        default=None, description="tls_client_auth: a uniformResourceIdentifier subjectAltName."
    )
    tls_client_auth_san_ip: str | None = Field(
        default=None, description="tls_client_auth: an iPAddress subjectAltName."
    )
    tls_client_auth_san_email: str | None = Field(
        default=None, description="tls_client_auth: an rfc822Name subjectAltName."
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
        default=None, description="Keyloft: the client's description, up to 500 characters."
    )
    keyloft_token_lifetime: int | None = Field(
        default=None,
        description="Keyloft: its tokens' lifetime in seconds (default: the org's cap).",
    )
    keyloft_default_till_id: int | None = Field(
        default=None,
        description="Keyloft: the Till the client acts as (default: the calling Till, or the "
        "org's only one).",
    )
    keyloft_scope_resources: dict[str, list[str]] | None = Field(
        default=None,
        description="Keyloft: RE2 resource patterns narrowing an entity of scope, by entity "
        'name, e.g. {"TargetGroups": [".*v3/targetGroups.*"]}.',
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
        default=None, description="If sent, the client's current secret; it is never changed."
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
        default=None, description="Only in the answer that issued it: never shown again."
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

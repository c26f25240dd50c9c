"""The manifest's shape: one Pydantic model, the single definition of the file. The JSON Schema
(``keyloft.manifest.schema``) is generated from it, and every file ``keyloft apply`` reads is
validated against it before anything is planned.

Keys are the v3 API's camelCase field names (``expirationTokenTime``, ``jwksUri``…), so a
client reads alike in the API's JSON and in the file; where the API names an object by its id,
the file names it by what identifies it across deployments: a Till by its code
(``defaultTill``), a scope entity by its name (``entity``). A client's fields are declarative:
one left out takes its default (no keys, not DPoP-bound…), it is not "kept as it is". An org's
settings are the exception: one left out is left as it is (a new org takes the deployment's
default). Unknown keys are refused.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from keyloft.domain.client_keys import MAX_KEYS
from keyloft.domain.clients import MAX_DESCRIPTION, MAX_NAME
from keyloft.domain.federation import MAX_AUDIENCES, MAX_CLAIMS, MAX_RULES
from keyloft.domain.patterns import MAX_PATTERNS

VERSION = 1
"""The manifest format's version; a later, incompatible one gets the next number."""

Permission = Literal["READ", "WRITE", "READWRITE"]
AuthMethod = Literal[
    "client_secret_basic", "private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"
]


class _Strict(BaseModel):
    # No coercion (a quoted "600" is not a number, yes/no is not a string) and no unknown
    # keys: a typo must fail loudly rather than leave a field at its default.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ScopeSpec(_Strict):
    """One scope of a client: an entity of its org, a permission, optional resource patterns."""

    entity: str = Field(
        min_length=1, description="Name of one of the org's scope entities, e.g. TargetGroups."
    )
    permission: Permission = Field(
        description="READ grants GET and HEAD; WRITE grants POST, PUT, PATCH and DELETE."
    )
    resources: list[str] = Field(
        default_factory=list,
        max_length=MAX_PATTERNS,
        description="RE2 patterns (at most 512 characters each) the request path must fully "
        "match; none: the whole entity. Their order does not matter.",
    )


class FederatedCredentialSpec(_Strict):
    """A trust rule for another issuer's tokens (workload identity), as in the v3 API."""

    name: str = Field(description="1 to 100 characters, unique among the client's rules.")
    issuer: str = Field(description="The issuer trusted: exactly its tokens' iss (https).")
    subject: str = Field(description="The token's sub, exactly.")
    audiences: list[str] = Field(
        default_factory=list,
        max_length=MAX_AUDIENCES,
        description="The token's aud must hold one of them; none: Keyloft's issuer.",
    )
    claims: dict[str, str | int | bool] = Field(
        default_factory=dict,
        max_length=MAX_CLAIMS,
        description="Top-level claims the token must hold with exactly these values.",
    )
    maxAgeSeconds: int | None = Field(
        default=None, ge=1, description="Refuse tokens issued (iat) longer ago than this."
    )


class ClientSpec(_Strict):
    """An API client, identified by its name within its org."""

    name: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        description="Identifies the client within its org: unique among the org's clients "
        "in this file and among its active clients in Keyloft.",
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    expirationTokenTime: int = Field(
        ge=1, description="Token lifetime in seconds, at most the org's maxTokenTtl."
    )
    defaultTill: str = Field(
        min_length=1,
        description="Code of the Till the client acts as: one of the org's Tills, in Keyloft "
        "or declared under tills.",
    )
    scopes: list[ScopeSpec] = Field(min_length=1, description="At most one per entity.")
    tokenEndpointAuthMethod: AuthMethod = Field(
        default="client_secret_basic",
        description="client_secret_basic: a secret, printed once when the client is made. "
        "private_key_jwt: no secret; needs jwks, jwksUri or federatedCredentials. "
        "tls_client_auth: no secret; a certificate of a CA the deployment trusts carrying "
        "the name in exactly one tlsClientAuth* field. self_signed_tls_client_auth: no "
        "secret; the certificate is registered in jwks.",
    )
    jwks: dict[str, Any] | None = Field(
        default=None,
        description='Public keys, {"keys": [JWK, ...]}: RSA (2048 bits or more), EC P-256, '
        f"P-384 or P-521, Ed25519; at most {MAX_KEYS}; no private members.",
    )
    jwksUri: str | None = Field(
        default=None, description="An https URL serving the client's JWK Set."
    )
    federatedCredentials: list[FederatedCredentialSpec] = Field(
        default_factory=list, max_length=MAX_RULES
    )
    dpopBoundAccessTokens: bool = Field(
        default=False, description="RFC 9449: every token request must carry a DPoP proof."
    )
    tlsClientCertificateBoundAccessTokens: bool = Field(
        default=False,
        description="RFC 8705: tokens are bound to the TLS certificate they were requested with.",
    )
    tlsClientAuthSubjectDn: str | None = Field(
        default=None, description="tls_client_auth: the certificate's subject DN (RFC 4514)."
    )
    tlsClientAuthSanDns: str | None = Field(
        default=None, description="tls_client_auth: a dNSName subjectAltName."
    )
    tlsClientAuthSanUri: str | None = Field(
        default=None, description="tls_client_auth: a URI subjectAltName (e.g. a SPIFFE ID)."
    )
    tlsClientAuthSanIp: str | None = Field(
        default=None, description="tls_client_auth: an iPAddress subjectAltName."
    )
    tlsClientAuthSanEmail: str | None = Field(
        default=None, description="tls_client_auth: an rfc822Name subjectAltName."
    )


class TillSpec(_Strict):
    """A Till (store terminal), identified by its code: its login, unique in the deployment.
    A Till the file makes gets a generated password, printed once."""

    code: str = Field(min_length=1, max_length=100)
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Display name; the code when left out. Tills cannot be renamed by apply.",
    )


class ScopeEntitySpec(_Strict):
    """A scope entity, identified by its name within its org. Entities are only ever added:
    one the file leaves out stays, and an entity's pattern cannot be changed."""

    name: str = Field(min_length=1, max_length=100, description="Letters, digits, '_' or '.'.")
    pattern: str | None = Field(
        default=None,
        description="RE2 pattern of the paths the entity covers; required for a new entity "
        "(only the org's fallback entity, All, has none).",
    )


class OrgSpec(_Strict):
    """An org, identified by its name. Settings left out are left as they are (a new org takes
    the deployment's defaults)."""

    name: str = Field(min_length=1, max_length=200)
    timezone: str | None = Field(
        default=None, description="IANA time zone of its dates (a new org: UTC)."
    )
    maxClients: int | None = Field(default=None, ge=1, description="Active API clients allowed.")
    maxTokenTtl: int | None = Field(
        default=None, ge=1, description="Longest token lifetime of its clients, seconds."
    )
    scopeEntities: list[ScopeEntitySpec] = Field(
        default_factory=list,
        description="Entities to add; a new org already has TargetGroups, All and Transaction.",
    )
    tills: list[TillSpec] = Field(default_factory=list)
    clients: list[ClientSpec] = Field(
        default_factory=list,
        description="The org's API clients. With --prune, active clients not listed here are "
        "deleted.",
    )


class Manifest(_Strict):
    """Orgs with their scope entities, Tills and API clients, as keyloft apply makes them."""

    version: Literal[1] = Field(description="The manifest format's version: 1.")
    orgs: list[OrgSpec] = Field(min_length=1)

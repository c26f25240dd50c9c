"""The answers of the standard endpoints (OAuth 2.0, its metadata, the health probes) as the
OpenAPI description shows them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TokenAnswerOut(BaseModel):
    """RFC 6749 §5.1."""

    access_token: str = Field(description="An RFC 9068 at+jwt.")
    token_type: Literal["Bearer", "DPoP"]
    expires_in: int
    scope: str = Field(examples=["TargetGroups:read All:readwrite"])


class IntrospectionOut(BaseModel):
    """RFC 7662 §2.2: an inactive token (or another client's) shows only ``active``."""

    model_config = ConfigDict(extra="allow")

    active: bool
    scope: str | None = None
    client_id: str | None = None
    token_type: Literal["Bearer", "DPoP"] | None = None
    exp: int | None = None
    iat: int | None = None
    sub: str | None = None
    iss: str | None = None
    jti: str | None = None
    aud: str | list[str] | None = None
    org_id: int | None = None
    cnf: dict[str, str] | None = Field(
        default=None, description="The key or certificate the token is bound to (RFC 7800)."
    )


class ServerMetadataOut(BaseModel):
    """RFC 8414 §2."""

    model_config = ConfigDict(extra="allow")

    issuer: str
    token_endpoint: str
    jwks_uri: str
    introspection_endpoint: str
    revocation_endpoint: str
    registration_endpoint: str
    grant_types_supported: list[str]
    response_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    dpop_signing_alg_values_supported: list[str]
    tls_client_certificate_bound_access_tokens: bool
    service_documentation: str


class LiveOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    store: Literal["up", "down"]
    redis: Literal["up", "down", "off"]
    clientCache: bool

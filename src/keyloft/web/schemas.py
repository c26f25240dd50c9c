"""Request and response shapes of the v3 API, as Pydantic models (they also feed OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue
from pydantic.config import JsonDict

from keyloft.domain import federation
from keyloft.domain.certificate_names import MAX_NAME_LENGTH, NAME_FIELDS
from keyloft.domain.client_keys import MAX_KEYS
from keyloft.domain.clients import (
    MAX_DESCRIPTION,
    MAX_NAME,
    PRIVATE_KEY_JWT,
    SELF_SIGNED_TLS,
    TLS_CLIENT_AUTH,
)
from keyloft.domain.governance import MAX_ALLOWLIST, MAX_PER_MINUTE
from keyloft.domain.patterns import MAX_PATTERN_LENGTH, MAX_PATTERNS
from keyloft.services.clients import MAX_PAGE
from keyloft.services.cursor import CLIENT_CURSOR_MAX_LENGTH, CLIENT_CURSOR_PATTERN
from keyloft.web.openapi import rules

THIRTY_DAYS = 30 * 24 * 3600


def _integral(value: object) -> object:
    """JSON Schema counts 600.0 as an integer, so the API does too (never 600.5 or "600")."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_integral)]
Id = Annotated[int, Field(ge=1, le=rules.JSON_SAFE_MAX), BeforeValidator(_integral)]


class _Strict(BaseModel):
    # Unknown fields (e.g. a GET response sent back as a PUT body) are ignored, never used:
    # a caller cannot choose a client's key, id or secret.
    model_config = ConfigDict(strict=True, extra="ignore")


class ScopeIn(_Strict):
    entityId: Id = Field(
        description="Id of one of the org's scope entities (GET /scopes); another id is 409."
    )
    permission: Literal["READ", "WRITE", "READWRITE"]
    resources: list[str] = Field(
        description=f"Up to {MAX_PATTERNS} distinct RE2 patterns (≤ {MAX_PATTERN_LENGTH} "
        "chars) that the request path must fully match; empty for the whole entity.",
        json_schema_extra={
            "maxItems": MAX_PATTERNS,
            "uniqueItems": True,
            "items": {
                "type": "string",
                "format": rules.RE2,
                "minLength": 1,
                "maxLength": MAX_PATTERN_LENGTH,
                **rules.NO_CONTROL,
            },
        },
    )


AuthMethod = Literal[
    "client_secret_basic", "private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"
]


def _text(limit: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": limit, **rules.NOT_BLANK}


class FederatedCredentialIn(_Strict):
    name: str = Field(
        description=f"1 to {federation.MAX_NAME} characters, unique among the client's rules.",
        json_schema_extra=_text(federation.MAX_NAME),
    )
    issuer: str = Field(
        description="The issuer trusted (exactly its tokens' iss): an https URL whose "
        "/.well-known/openid-configuration (else oauth-authorization-server) names its keys.",
        json_schema_extra={"maxLength": federation.MAX_URL, **rules.matching(rules.HTTPS_URL)},
    )
    subject: str = Field(
        description="The token's sub, exactly.", json_schema_extra=_text(federation.MAX_TEXT)
    )
    audiences: list[str] = Field(
        default_factory=list,
        description="The token's aud must hold one of them; empty: Keyloft's issuer.",
        json_schema_extra={
            "maxItems": federation.MAX_AUDIENCES,
            "items": _text(federation.MAX_TEXT),
        },
    )
    claims: dict[str, str | Whole | bool] = Field(
        default_factory=dict,
        description="Top-level claims the token must hold with exactly these values "
        "(e.g. GitHub's repository and ref); not the rule's own iss, sub, aud, exp, nbf, iat "
        "or jti.",
        json_schema_extra={
            "maxProperties": federation.MAX_CLAIMS,
            "propertyNames": {
                "allOf": [
                    _text(federation.MAX_NAME),
                    {"not": {"enum": list[JsonValue](sorted(federation.RESERVED_CLAIMS))}},
                ]
            },
            "additionalProperties": {
                "anyOf": [
                    _text(federation.MAX_TEXT),
                    {"type": "integer"},
                    {"type": "boolean"},
                ]
            },
        },
    )
    maxAgeSeconds: Whole | None = Field(
        default=None,
        description="Refuse tokens issued (iat) longer ago than this.",
        json_schema_extra=rules.nullable(
            {"type": "integer", "minimum": 1, "maximum": federation.MAX_AGE_SECONDS}
        ),
    )


def _certificate_name(field: str, shape: JsonDict) -> JsonDict:
    """A ``tlsClientAuth*`` field's schema: a string of ``shape`` up to its length, or null."""
    return rules.nullable({"type": "string", "maxLength": MAX_NAME_LENGTH[field], **shape})


class _Credentials(_Strict):
    tlsClientCertificateBoundAccessTokens: bool | None = Field(
        default=None,
        description="RFC 8705: the client's tokens are bound to the TLS certificate it "
        "requests them with (cnf x5t#S256) and refused with any other (default on create: "
        "false; kept when absent on update).",
    )
    dpopBoundAccessTokens: bool | None = Field(
        default=None,
        description="RFC 9449: every token request of the client must carry a DPoP proof, so "
        "all its tokens are bound to its key (default on create: false; kept when absent on "
        "update).",
    )
    tokenEndpointAuthMethod: AuthMethod | None = Field(
        default=None,
        description="client_secret_basic (a secret: Basic, the form or the v3 body), "
        "private_key_jwt (no secret: a JWT assertion signed by one of its keys, or a token a "
        "federated credential trusts), tls_client_auth (no secret: a TLS client certificate "
        "issued by a CA the deployment trusts, KEYLOFT_CLIENT_CA_CERTS, carrying the one name "
        "given in a tlsClientAuth* field; RFC 8705 §2.1) or self_signed_tls_client_auth (no "
        "secret: a TLS client certificate registered in jwks; RFC 8705 §2.2). Default on "
        "create: client_secret_basic; kept when absent on update. Switching to "
        "client_secret_basic issues a secret (in the answer).",
    )
    tlsClientAuthSubjectDn: str | None = Field(
        default=None,
        description="tls_client_auth: the certificate's subject DN, in RFC 4514 form (such "
        "as CN=partner,O=Acme,C=DE), compared RDN by RDN ignoring case and extra spaces. A "
        "tls_client_auth client has exactly one of the five tlsClientAuth* fields; any of "
        "them sent replaces its name; kept when none is sent; null for other methods.",
        json_schema_extra=_certificate_name("tlsClientAuthSubjectDn", {"format": rules.DN}),
    )
    tlsClientAuthSanDns: str | None = Field(
        default=None,
        description="tls_client_auth: a dNSName subjectAltName of the certificate (exact, "
        "ignoring case; no wildcards).",
        json_schema_extra=_certificate_name("tlsClientAuthSanDns", rules.matching(rules.DNS_NAME)),
    )
    tlsClientAuthSanUri: str | None = Field(
        default=None,
        description="tls_client_auth: a uniformResourceIdentifier subjectAltName of the "
        "certificate (exact), such as a SPIFFE ID.",
        json_schema_extra=_certificate_name(
            "tlsClientAuthSanUri", rules.matching(rules.ABSOLUTE_URI)
        ),
    )
    tlsClientAuthSanIp: str | None = Field(
        default=None,
        description="tls_client_auth: an iPAddress subjectAltName of the certificate, IPv4 or "
        "IPv6 (compared as addresses; stored in canonical form).",
        json_schema_extra=_certificate_name(
            "tlsClientAuthSanIp", {"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
        ),
    )
    tlsClientAuthSanEmail: str | None = Field(
        default=None,
        description="tls_client_auth: an rfc822Name subjectAltName of the certificate (the "
        "domain compared ignoring case).",
        json_schema_extra=_certificate_name("tlsClientAuthSanEmail", rules.matching(rules.EMAIL)),
    )
    jwks: dict[str, Any] | None = Field(
        default=None,
        description='Public keys, {"keys": [JWK, ...]}: RSA (2048 bits or more), EC P-256, '
        "P-384 or P-521, Ed25519; at most 10; no private members. null clears them; kept "
        "when absent on update.",
        json_schema_extra=rules.nullable(
            {
                "type": "object",
                "required": ["keys"],
                "properties": {
                    "keys": {
                        "type": "array",
                        "maxItems": MAX_KEYS,
                        "items": {
                            "type": "object",
                            "required": ["kty"],
                            "properties": {"kty": {"enum": ["RSA", "EC", "OKP"]}},
                        },
                    }
                },
                rules.PUBLIC_JWKS: True,
            }
        ),
    )
    jwksUri: str | None = Field(
        default=None,
        description="An https URL serving the client's JWK Set; null clears it; kept when "
        "absent on update.",
        json_schema_extra=rules.nullable(
            {"type": "string", "maxLength": federation.MAX_URL, **rules.matching(rules.HTTPS_URL)}
        ),
    )
    federatedCredentials: list[FederatedCredentialIn] | None = Field(
        default=None,
        max_length=20,
        description="Trust rules for other issuers' tokens (workload identity), each name "
        "once; replaces the client's rules; null or [] clears them; kept when absent on update.",
        json_schema_extra={rules.DISTINCT: "name"},
    )


class TokenRateLimitIn(_Strict):
    perMinute: Whole = Field(
        description="Tokens the client may mint a minute.",
        json_schema_extra={"minimum": 1, "maximum": MAX_PER_MINUTE},
    )


class _Governance(_Credentials):
    ipAllowlist: list[str] | None = Field(
        default=None,
        description="Up to 50 IPv4/IPv6 networks (CIDR, no host bits set; a bare address is "
        "one host) token requests of the client may come from; others are refused as a wrong "
        "secret. null or [] allows any address; kept when absent on update.",
        json_schema_extra={
            "anyOf": [
                {
                    "type": "array",
                    "maxItems": MAX_ALLOWLIST,
                    "items": {"type": "string", "format": rules.CIDR, "maxLength": 64},
                },
                {"type": "null"},
            ]
        },
    )
    tokenRateLimit: TokenRateLimitIn | None = Field(
        default=None,
        description='{"perMinute": N}: the most tokens the client may mint a minute; beyond '
        "it 429 with Retry-After. null: no limit; kept when absent on update.",
    )
    secretLifetimeSeconds: Whole | None = Field(
        default=None,
        description="How long a secret this request issues lives, in seconds (60 to ten "
        "years; 0: it never expires). Absent: the org's default (keyloft org update "
        "--secret-lifetime), else never.",
        json_schema_extra=rules.nullable(rules.SECRET_LIFETIME),
    )


NAME_SCHEMA: JsonDict = {"minLength": 1, "maxLength": MAX_NAME, **rules.NOT_BLANK}
DESCRIPTION_SCHEMA: JsonDict = {"maxLength": MAX_DESCRIPTION, **rules.NO_CONTROL_BUT_LINES}
TTL_DESCRIPTION = (
    "Token lifetime in seconds, 1 to the org's cap (the deployment's at most 30 days); beyond "
    "the org's cap is 409."
)
TTL_SCHEMA: JsonDict = {"minimum": 1, "maximum": THIRTY_DAYS}
TILL_DESCRIPTION = "A Till of the same org the client acts as; another id is 409."
SCOPES_DESCRIPTION = "Each entityId at most once."


def _method(*methods: str) -> JsonDict:
    return {
        "required": ["tokenEndpointAuthMethod"],
        "properties": {"tokenEndpointAuthMethod": {"enum": list(methods)}},
    }


def _holds(name: str, schema: JsonDict) -> JsonDict:
    return {"required": [name], "properties": {name: schema}}


_A_NAME: list[JsonValue] = [_holds(name, {"type": "string"}) for name in NAME_FIELDS]
_KEYS: JsonDict = {"type": "object", "properties": {"keys": {"minItems": 1}}}
_A_CREDENTIAL: JsonDict = {
    "anyOf": [
        _holds("jwks", _KEYS),
        _holds("jwksUri", {"type": "string"}),
        _holds("federatedCredentials", {"type": "array", "minItems": 1}),
    ]
}
_NO_NAMES: JsonDict = {"properties": {name: {"type": "null"} for name in NAME_FIELDS}}
# The rules between a client's method and its credentials, as JSON Schema. On create the
# request is all there is: a tls_client_auth client names exactly one certificate name (and
# no other method any), a private_key_jwt client has keys, a key set URL or a rule, and a
# self_signed_tls_client_auth client its certificate's key in jwks.
CREATE_RULES: JsonDict = {
    "allOf": [
        {"if": _method(TLS_CLIENT_AUTH), "then": {"oneOf": _A_NAME}, "else": _NO_NAMES},
        {"if": _method(PRIVATE_KEY_JWT), "then": _A_CREDENTIAL},
        {"if": _method(SELF_SIGNED_TLS), "then": _holds("jwks", _KEYS)},
    ]
}
# On update a field not sent is kept, so the rules bind only what is sent; what they break
# only together with the kept fields is the stored state's refusal (409).
UPDATE_RULES: JsonDict = {
    "allOf": [
        {
            "if": _method(TLS_CLIENT_AUTH),
            "then": {
                "not": {
                    "anyOf": [
                        {"allOf": [first, second]}
                        for index, first in enumerate(_A_NAME)
                        for second in _A_NAME[index + 1 :]
                    ]
                },
                "if": {"anyOf": [{"required": [name]} for name in NAME_FIELDS]},
                "then": {"anyOf": _A_NAME},
            },
        },
        {
            "if": {"required": ["tokenEndpointAuthMethod"]},
            "then": {"if": _method(TLS_CLIENT_AUTH), "else": _NO_NAMES},
        },
        {
            "if": {
                "allOf": [
                    _method(PRIVATE_KEY_JWT),
                    {"required": ["jwks", "jwksUri", "federatedCredentials"]},
                ]
            },
            "then": _A_CREDENTIAL,
        },
        {
            "if": {"allOf": [_method(SELF_SIGNED_TLS), {"required": ["jwks"]}]},
            "then": _holds("jwks", _KEYS),
        },
    ]
}


class ClientCreate(_Governance):
    model_config = ConfigDict(json_schema_extra=CREATE_RULES)

    name: str = Field(
        description=f"1 to {MAX_NAME} characters, not all blank, no control characters; "
        "unique among the org's valid clients (409).",
        json_schema_extra=NAME_SCHEMA,
    )
    description: str = Field(
        description=f"Up to {MAX_DESCRIPTION} characters.", json_schema_extra=DESCRIPTION_SCHEMA
    )
    expirationTokenTime: Whole = Field(description=TTL_DESCRIPTION, json_schema_extra=TTL_SCHEMA)
    defaultTillId: Id = Field(description=TILL_DESCRIPTION)
    scopes: list[ScopeIn] = Field(
        min_length=1,
        description=SCOPES_DESCRIPTION,
        json_schema_extra={rules.DISTINCT: "entityId"},
    )


class ClientUpdate(_Governance):
    model_config = ConfigDict(json_schema_extra=UPDATE_RULES)

    name: str | None = Field(
        default=None,
        description="Kept when absent.",
        json_schema_extra=rules.nullable(NAME_SCHEMA | {"type": "string"}),
    )
    description: str | None = Field(
        default=None,
        description="Kept when absent.",
        json_schema_extra=rules.nullable(DESCRIPTION_SCHEMA | {"type": "string"}),
    )
    expirationTokenTime: Whole = Field(description=TTL_DESCRIPTION, json_schema_extra=TTL_SCHEMA)
    defaultTillId: Id = Field(description=TILL_DESCRIPTION)
    scopes: list[ScopeIn] = Field(
        min_length=1,
        description="Replaces the client's scopes. " + SCOPES_DESCRIPTION,
        json_schema_extra={rules.DISTINCT: "entityId"},
    )


class SecretRotation(_Strict):
    graceSeconds: Whole = Field(
        default=0,
        ge=0,
        le=7 * 24 * 3600,
        description="How long the replaced secret keeps working, in seconds (0: not at all; "
        "at most 7 days). A secret still in grace from an earlier rotation stops at once.",
    )
    secretLifetimeSeconds: Whole | None = Field(
        default=None,
        description="How long the new secret lives, in seconds (60 to ten years; 0: it never "
        "expires). Absent: the org's default, else never.",
        json_schema_extra=rules.nullable(rules.SECRET_LIFETIME),
    )


class ClientListQuery(BaseModel):
    """The query of ``GET /v3/integrations/clients`` (lax: query values are strings)."""

    includeInvalid: Literal["true", "false"] = Field(
        default="false", description="true: also list deleted clients."
    )
    name: str | None = Field(
        default=None,
        description="Only clients whose name contains this (any case).",
        json_schema_extra={"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    )
    limit: int | None = Field(
        default=None,
        description=f"Page size (1 to {MAX_PAGE}); pages the answer.",
        json_schema_extra={"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    )
    cursor: str | None = Field(
        default=None,
        description="The previous page's nextCursor.",
        json_schema_extra={
            "type": "string",
            "maxLength": CLIENT_CURSOR_MAX_LENGTH,
            **rules.matching(CLIENT_CURSOR_PATTERN),
        },
    )


# Never both; without an assertion, the secret. (Said with allOf rather than a top-level
# oneOf, which would make generated clients type the body as a union.)
TOKEN_REQUEST_RULES: list[JsonValue] = [
    {"not": {"required": ["secret", "assertion"]}},
    {"if": {"not": {"required": ["assertion"]}}, "then": {"required": ["secret"]}},
]


class TokenRequest(_Strict):
    model_config = ConfigDict(
        # A client proves itself with one of them, never both (a tls_client_auth client over
        # mutual TLS may send the key alone: its certificate is the proof).
        json_schema_extra={"allOf": TOKEN_REQUEST_RULES}
    )

    key: str = Field(description="The client key.")
    secret: str | None = Field(
        default=None,
        description="The client secret (secret clients).",
        json_schema_extra=rules.not_null,
    )
    assertion: str | None = Field(
        default=None,
        description="Instead of a secret (private_key_jwt clients): a JWT signed by one of "
        "the client's keys (iss = sub = key, aud = the issuer, exp within 5 minutes, a "
        "single-use jti), or a token a federated credential of the client trusts.",
        json_schema_extra=rules.not_null,
    )


class CheckRequest(_Strict):
    token: str = Field(description="The access token (v3 or RFC 9068).")
    method: str = Field(min_length=1, max_length=16, description="The call's HTTP method.")
    path: str = Field(
        min_length=1, max_length=8192, description="The call's path (a query string is ignored)."
    )
    tokenType: Literal["Bearer", "DPoP"] = Field(
        default="Bearer",
        description="The scheme the token came with (Authorization: DPoP → DPoP). A token "
        "bound to a DPoP key (cnf.jkt) is allowed only as DPoP, with its proof.",
    )
    dpop: str | None = Field(
        default=None, max_length=8192, description="The call's DPoP header (the proof)."
    )
    url: str | None = Field(
        default=None,
        max_length=8192,
        description="The call's full public URL (scheme, host, path), which the proof's htu "
        "must name; needed with DPoP.",
    )
    certificate: str | None = Field(
        default=None,
        max_length=16384,
        description="The caller's TLS client certificate (PEM, URL-encoded or not), which a "
        "certificate-bound token (cnf x5t#S256, RFC 8705) needs.",
    )


class CheckOut(BaseModel):
    allowed: bool
    reason: str = Field(
        description="allowed, invalid_token, invalid_dpop_proof, use_dpop_nonce, no_grant, "
        "permission, resource, path_rejected, no_entity or unknown_till."
    )
    clientKey: str | None
    orgId: int | None
    tillId: int | None
    dpopNonce: str | None = Field(
        default=None,
        description="With reason use_dpop_nonce: the nonce the caller's next proof must carry "
        "(pass it on in a DPoP-Nonce header).",
    )


class CheckEnvelope(BaseModel):
    data: CheckOut
    errors: None = None


class AuditTargetOut(BaseModel):
    type: str
    key: str


class AuditActorOut(BaseModel):
    id: int | None = Field(description="null for an operator at the command line")
    code: str = Field(description="login, or user@host of an operator")
    description: str
    name: str
    type: Literal["ADMIN_USER", "TILL", "OPERATOR"]


class AuditEventOut(BaseModel):
    id: int
    at: str = Field(examples=["2020-04-15T14:14:06.104+0530"])
    actor: AuditActorOut
    action: str = Field(examples=["client.update"])
    target: AuditTargetOut
    changes: dict[str, list[Any]] = Field(description="field: [before, after]")
    requestId: str | None
    sourceIp: str | None


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    nextCursor: str | None


class AuditEnvelope(BaseModel):
    data: AuditPageOut
    errors: None = None


class ActorOut(BaseModel):
    id: int
    code: str
    description: str
    name: str
    type: Literal["ADMIN_USER", "TILL"]


class AttributionOut(BaseModel):
    createdOn: str = Field(examples=["2020-04-15T14:14:06.104+0530"])
    lastUpdatedOn: str
    lastUpdatedBy: ActorOut
    createdBy: ActorOut


class ScopeOut(BaseModel):
    permission: Literal["READ", "WRITE", "READWRITE"]
    entityId: int
    resources: list[str]


class TokenRateLimitOut(BaseModel):
    perMinute: int


class ClientSummaryOut(BaseModel):
    id: int
    attribution: AttributionOut
    name: str
    clientKey: str
    isValid: bool
    description: str
    expirationTokenTime: int
    defaultTillId: int
    lastUsedOn: str | None = Field(
        examples=["2020-04-15T14:14:00.000+0530"],
        description="When a token was last minted for the client, to the minute; null: never.",
    )
    tokenEndpointAuthMethod: AuthMethod
    dpopBoundAccessTokens: bool
    tlsClientCertificateBoundAccessTokens: bool
    ipAllowlist: list[str] = Field(description="Networks its token requests may come from.")
    tokenRateLimit: TokenRateLimitOut | None
    mintLimitHitOn: str | None = Field(
        description="When it last went beyond its tokenRateLimit, to the minute; null: never."
    )
    clientSecretExpiresAt: str | None = Field(
        examples=["2027-04-15T14:14:06.104+0530"],
        description="When its secret stops working (RFC 7591's client_secret_expires_at, as "
        "a v3 date); null: never, or no secret.",
    )


class ClientKeyOut(BaseModel):
    kid: str | None
    kty: Literal["RSA", "EC", "OKP"]
    alg: str | None
    crv: str | None
    thumbprint: str = Field(description="RFC 7638 SHA-256 thumbprint, base64url.")
    lastUsedOn: str | None


class FederatedCredentialOut(BaseModel):
    name: str
    issuer: str
    subject: str
    audiences: list[str]
    claims: dict[str, str | int | bool]
    maxAgeSeconds: int | None = None
    lastUsedOn: str | None


class CredentialUseOut(BaseModel):
    type: Literal["secret", "key", "federated", "certificate"]
    id: str | None = Field(
        description="The key's thumbprint, the federated rule's name, or the x5t#S256 of the "
        "TLS certificate a tls_client_auth client used."
    )
    at: str


class ClientDetailOut(ClientSummaryOut):
    scopes: list[ScopeOut]
    jwks: dict[str, Any] | None
    jwksUri: str | None
    federatedCredentials: list[FederatedCredentialOut]
    tlsClientAuthSubjectDn: str | None = Field(
        default=None, description="tls_client_auth: the name its certificate must carry."
    )
    tlsClientAuthSanDns: str | None = None
    tlsClientAuthSanUri: str | None = None
    tlsClientAuthSanIp: str | None = None
    tlsClientAuthSanEmail: str | None = None
    keys: list[ClientKeyOut] = Field(description="The registered jwks keys, summarised.")
    lastUsedCredential: CredentialUseOut | None = Field(
        description="Which credential minted the latest token."
    )


class ClientCreatedOut(ClientDetailOut):
    clientSecret: str | None = Field(
        default=None,
        description="Shown only in this response; absent for a client without a secret.",
    )


class ScopeEntityOut(BaseModel):
    id: int
    entity: str


class TokenOut(BaseModel):
    accessToken: str
    ttlSeconds: int


class ErrorOut(BaseModel):
    code: int
    message: str
    field: str | None = None


class ErrorEnvelope(BaseModel):
    data: None = None
    errors: list[ErrorOut]


class ScopesEnvelope(BaseModel):
    data: list[ScopeEntityOut]
    errors: None = None


class PageOut(BaseModel):
    nextCursor: str | None = Field(description="Pass as cursor for the next page; null: last.")
    limit: int


class ClientListEnvelope(BaseModel):
    data: list[ClientSummaryOut]
    errors: None = None
    page: PageOut | None = Field(None, description="Present only when limit or cursor is given.")


class ClientDetailEnvelope(BaseModel):
    data: ClientDetailOut
    errors: None = None


class ClientSummaryEnvelope(BaseModel):
    data: ClientSummaryOut
    errors: None = None


class ClientCreatedEnvelope(BaseModel):
    data: ClientCreatedOut
    errors: None = None


class TokenEnvelope(BaseModel):
    data: TokenOut
    errors: None = None

"""The OpenAPI document as served at ``/openapi.json``: FastAPI's rendering of the routes,
then what the routes cannot say themselves — the security schemes and which credentials each
operation takes (as alternatives: a call sends exactly one), and the request bodies that
routes read themselves."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from keyloft.web.lane.body import document_bodies

SCHEMES: dict[str, dict[str, Any]] = {
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "An admin's login or a Till's code, with the password (or its md5 hex).",
    },
    "capToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CAP-API-OAUTH-TOKEN",
        "description": "An access token, the v3 way.",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token (v3, or RFC 9068 from /oauth2/token).",
    },
    "oauth2": {
        "type": "oauth2",
        "description": "Tokens of the client credentials grant, sent as bearer (or DPoP) "
        "tokens. A scope is `<Entity>:<read|write|readwrite>` of the org's scope entities.",
        "flows": {"clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": {}}},
    },
    "dpop": {
        "type": "http",
        "scheme": "DPoP",
        "description": "A DPoP-bound access token (RFC 9449), always with its proof.",
    },
    "dpopProof": {
        "type": "apiKey",
        "in": "header",
        "name": "DPoP",
        "description": "A DPoP proof (RFC 9449 §4): a JWT of the client's key naming this "
        "call's method and URL. With a token request, it binds the token to the key.",
    },
    "clientSecretBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "client_secret_basic: the client key and secret (RFC 6749 §2.3.1).",
    },
    "mutualTLS": {
        "type": "mutualTLS",
        "description": "A TLS client certificate (RFC 8705): tls_client_auth or "
        "self_signed_tls_client_auth clients, and certificate-bound tokens.",
    },
    "registrationToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A client's registration access token (RFC 7592).",
    },
}

# Who may call each kind of operation: alternatives, each a complete set of credentials.
MANAGEMENT: list[dict[str, list[str]]] = [
    {"basic": []},
    {"capToken": []},
    {"bearer": []},
    {"oauth2": []},
    {"dpop": [], "dpopProof": []},
]
TOKEN_HOLDER: list[dict[str, list[str]]] = [
    {"capToken": []},
    {"bearer": []},
    {"dpop": [], "dpopProof": []},
]
# A token request: the credentials in the body (none in a header), Basic, or a certificate;
# any of them with a DPoP proof to bind the token.
TOKEN_REQUEST: list[dict[str, list[str]]] = [
    {},
    {"dpopProof": []},
    {"clientSecretBasic": []},
    {"clientSecretBasic": [], "dpopProof": []},
    {"mutualTLS": []},
    {"mutualTLS": [], "dpopProof": []},
]
CLIENT_CALL: list[dict[str, list[str]]] = [{}, {"clientSecretBasic": []}, {"mutualTLS": []}]
V3_TOKEN_REQUEST: list[dict[str, list[str]]] = [
    {},
    {"dpopProof": []},
    {"mutualTLS": []},
    {"mutualTLS": [], "dpopProof": []},
]
REGISTERED: list[dict[str, list[str]]] = [{"registrationToken": []}]
PUBLIC: list[dict[str, list[str]]] = []

SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "generateToken": V3_TOKEN_REQUEST,
    "requestToken": TOKEN_REQUEST,
    "introspectToken": CLIENT_CALL,
    "revokeToken": CLIENT_CALL,
    "register": MANAGEMENT,
    "readRegistration": REGISTERED,
    "updateRegistration": REGISTERED,
    "deleteRegistration": REGISTERED,
    "checkForwardedCall": TOKEN_HOLDER,
}


def security_of(path: str, operation_id: str) -> list[dict[str, list[str]]]:
    if operation_id in SECURITY:
        return SECURITY[operation_id]
    return MANAGEMENT if path.startswith("/v3/integrations") else PUBLIC


def build(app: FastAPI) -> dict[str, Any]:
    """The document, built once and then served as it is."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    document_bodies(schema)
    schema.setdefault("components", {})["securitySchemes"] = SCHEMES
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            # Validation failures answer 400 with the envelope, never FastAPI's 422.
            operation.get("responses", {}).pop("422", None)
            operation["security"] = security_of(path, operation["operationId"])
    for unused in ("HTTPValidationError", "ValidationError"):
        schema["components"].get("schemas", {}).pop(unused, None)
    app.openapi_schema = schema
    return schema

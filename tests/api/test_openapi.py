"""The OpenAPI description covers every endpoint, its schemas and the error envelope."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ENDPOINTS: dict[tuple[str, str], str | None] = {
    ("get", "/v3/integrations/scopes"): None,
    ("get", "/v3/integrations/audit"): None,
    ("post", "/v3/integrations/clients"): "ClientCreate",
    ("get", "/v3/integrations/clients"): None,
    ("get", "/v3/integrations/clients/{clientKey}"): None,
    ("put", "/v3/integrations/clients/{clientKey}"): "ClientUpdate",
    ("delete", "/v3/integrations/clients/{clientKey}"): None,
    ("post", "/v3/integrations/clients/{clientKey}/secret"): "SecretRotation",
    ("delete", "/v3/integrations/clients/{clientKey}/secret/previous"): None,
    ("post", "/v3/oauth/token/generate"): "TokenRequest",
    ("post", "/v3/oauth/check"): "CheckRequest",
    ("get", "/v3/oauth/check"): None,
    ("get", "/.well-known/jwks.json"): None,
    ("get", "/v3/integrations/usage"): None,
    ("get", "/v3/integrations/clients/{clientKey}/usage"): None,
    ("post", "/v3/integrations/webhooks"): "WebhookCreate",
    ("get", "/v3/integrations/webhooks"): None,
    ("get", "/v3/integrations/webhooks/{webhookId}"): None,
    ("delete", "/v3/integrations/webhooks/{webhookId}"): None,
    ("get", "/v3/integrations/webhooks/{webhookId}/deliveries"): None,
    ("post", "/v3/integrations/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver"): None,
}
SUCCESS: dict[tuple[str, str], str] = {
    ("get", "/v3/integrations/scopes"): "ScopesEnvelope",
    ("get", "/v3/integrations/audit"): "AuditEnvelope",
    ("post", "/v3/integrations/clients"): "ClientCreatedEnvelope",
    ("get", "/v3/integrations/clients"): "ClientListEnvelope",
    ("get", "/v3/integrations/clients/{clientKey}"): "ClientDetailEnvelope",
    # A switch to client_secret_basic answers the new secret.
    ("put", "/v3/integrations/clients/{clientKey}"): "ClientCreatedEnvelope",
    ("delete", "/v3/integrations/clients/{clientKey}"): "ClientSummaryEnvelope",
    ("post", "/v3/integrations/clients/{clientKey}/secret"): "ClientCreatedEnvelope",
    ("delete", "/v3/integrations/clients/{clientKey}/secret/previous"): "ClientDetailEnvelope",
    ("post", "/v3/oauth/token/generate"): "TokenEnvelope",
    ("post", "/v3/oauth/check"): "CheckEnvelope",
    ("get", "/v3/integrations/usage"): "OrgUsageEnvelope",
    ("get", "/v3/integrations/clients/{clientKey}/usage"): "ClientUsageEnvelope",
    ("post", "/v3/integrations/webhooks"): "WebhookEnvelope",
    ("get", "/v3/integrations/webhooks"): "WebhookListEnvelope",
    ("get", "/v3/integrations/webhooks/{webhookId}"): "WebhookEnvelope",
    ("delete", "/v3/integrations/webhooks/{webhookId}"): "WebhookEnvelope",
    ("get", "/v3/integrations/webhooks/{webhookId}/deliveries"): "DeliveryPageEnvelope",
    (
        "post",
        "/v3/integrations/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
    ): "DeliveryEnvelope",
}


@pytest.fixture
async def spec(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def json_schema(part: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = part["content"]["application/json"]["schema"]
    return schema


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    resolved: dict[str, Any] = spec["components"]["schemas"][name]
    return resolved


async def test_every_endpoint_is_described(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.")
    described = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert set(ENDPOINTS) <= described
    v3 = {(m, p) for m, p in described if p.startswith("/v3/")}
    assert v3 == {key for key in ENDPOINTS if key[1].startswith("/v3/")}


@pytest.mark.parametrize(("method", "path"), list(ENDPOINTS))
async def test_request_bodies(spec: dict[str, Any], method: str, path: str) -> None:
    operation = spec["paths"][path][method]
    expected = ENDPOINTS[(method, path)]
    if expected is None:
        assert "requestBody" not in operation
        return
    body = operation["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"application/json"}
    assert json_schema(body) == {"$ref": f"#/components/schemas/{expected}"}
    assert resolve(spec, json_schema(body))["properties"]


@pytest.mark.parametrize(("method", "path"), list(SUCCESS))
async def test_success_is_an_envelope(spec: dict[str, Any], method: str, path: str) -> None:
    ok = spec["paths"][path][method]["responses"]["200"]
    schema = json_schema(ok)
    assert schema == {"$ref": f"#/components/schemas/{SUCCESS[(method, path)]}"}
    envelope = resolve(spec, schema)
    paged = (method, path) == ("get", "/v3/integrations/clients")
    assert set(envelope["properties"]) == {"data", "errors"} | ({"page"} if paged else set())
    assert "data" in envelope["required"]
    assert "page" not in envelope.get("required", [])  # only when paging was asked for


# The refusals each v3 operation can give, beyond those of every management call (400 for its
# credentials, 401, 403, 429, 503): 404 on a key or id, 409 on a write, 412 with If-Match,
# 413/415 with a body.
IF_MATCH = {"put", "delete"}
WRITES = {"post", "put", "delete"}


def expected_refusals(method: str, path: str) -> set[str]:
    if path == "/v3/oauth/check":
        return {"400", "413", "415", "503"}
    if path == "/v3/oauth/token/generate":
        return {"400", "401", "413", "415", "429", "503"}
    refusals = {"400", "401", "403", "429", "503"}
    if "{" in path:
        refusals.add("404")
    if method in WRITES:
        refusals.add("409")
    if ENDPOINTS[(method, path)] is not None:
        refusals |= {"413", "415"}
    if path.startswith("/v3/integrations/clients/") and (
        method in IF_MATCH or path.endswith("/secret")
    ):
        refusals.add("412")
    return refusals


@pytest.mark.parametrize(("method", "path"), list(SUCCESS))
async def test_errors_are_the_error_envelope(spec: dict[str, Any], method: str, path: str) -> None:
    responses = spec["paths"][path][method]["responses"]
    assert "422" not in responses
    errors = {status: r for status, r in responses.items() if status.startswith(("4", "5"))}
    assert set(errors) == expected_refusals(method, path)
    for status, response in errors.items():
        assert json_schema(response) == {"$ref": "#/components/schemas/ErrorEnvelope"}
        assert response["description"]
        headers = set(response.get("headers", {}))
        if status == "401":
            assert "WWW-Authenticate" in headers
        if status in ("429", "503"):
            assert "Retry-After" in headers


async def test_error_envelope_schema(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    envelope = schemas["ErrorEnvelope"]
    assert set(envelope["properties"]) == {"data", "errors"}
    assert envelope["required"] == ["errors"]
    items = envelope["properties"]["errors"]["items"]
    assert items == {"$ref": "#/components/schemas/ErrorOut"}
    error = schemas["ErrorOut"]
    assert set(error["required"]) == {"code", "message"}
    assert error["properties"]["code"]["type"] == "integer"
    assert error["properties"]["message"]["type"] == "string"
    assert "field" in error["properties"]
    assert "HTTPValidationError" not in schemas


async def test_jwks_response_schema(spec: dict[str, Any]) -> None:
    schema = json_schema(spec["paths"]["/.well-known/jwks.json"]["get"]["responses"]["200"])
    assert schema["required"] == ["keys"]
    key = schema["properties"]["keys"]["items"]
    assert {"kty", "kid", "alg", "use"} <= set(key["required"])
    # RSA keys carry n and e, EC keys crv, x and y, OKP keys crv and x.
    assert {"n", "e", "crv", "x", "y"} <= set(key["properties"])


async def test_integrations_declare_their_security(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["basic"]["type"] == "http"
    assert schemes["basic"]["scheme"] == "basic"
    assert schemes["capToken"]["name"] == "X-CAP-API-OAUTH-TOKEN"
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["dpop"]["scheme"] == "DPoP"
    assert schemes["dpopProof"] == schemes["dpopProof"] | {"in": "header", "name": "DPoP"}
    flows = schemes["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth2/token"
    # Alternatives: a call sends exactly one of them (a DPoP token always with its proof).
    management = [
        {"basic": []},
        {"capToken": []},
        {"bearer": []},
        {"oauth2": []},
        {"dpop": [], "dpopProof": []},
    ]
    for (method, path), _ in ENDPOINTS.items():
        security = spec["paths"][path][method].get("security")
        if path.startswith("/v3/integrations"):
            assert security == management
        elif path == "/v3/oauth/check" and method == "get":
            assert security == [{"capToken": []}, {"bearer": []}, {"dpop": [], "dpopProof": []}]
        elif path == "/v3/oauth/token/generate":
            assert {} in security  # the key and secret are in the body
            assert {"mutualTLS": []} in security
        else:
            assert security == []


async def test_client_schemas_match_the_contract_fields(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert set(schemas["ClientCreate"]["required"]) == {
        "name",
        "description",
        "expirationTokenTime",
        "defaultTillId",
        "scopes",
    }
    assert set(schemas["ClientUpdate"]["required"]) == {
        "expirationTokenTime",
        "defaultTillId",
        "scopes",
    }
    # The contract's key and secret; a private_key_jwt client sends an assertion instead of
    # the secret, never both (the call answers 400 naming secret when neither is sent).
    assert set(schemas["TokenRequest"]["required"]) == {"key"}
    assert schemas["TokenRequest"]["allOf"] == [
        {"not": {"required": ["secret", "assertion"]}},
        {"if": {"not": {"required": ["assertion"]}}, "then": {"required": ["secret"]}},
    ]
    assert set(schemas["TokenRequest"]["properties"]) == {"key", "secret", "assertion"}
    assert set(schemas["TokenOut"]["required"]) == {"accessToken", "ttlSeconds"}
    assert "clientSecret" in schemas["ClientCreatedOut"]["properties"]
    assert "clientSecret" not in schemas["ClientDetailOut"]["properties"]


async def test_docs_page(http: httpx.AsyncClient) -> None:
    response = await http.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "/openapi.json" in response.text
    assert "swagger" in response.text.lower()

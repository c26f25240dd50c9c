"""Access-token claims of the v3 token call and reading grants back out of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.clients import Client
from keyloft.domain.scopes import DEFAULT_ENTITIES, Grant, Permission
from keyloft.domain.tokens import TOKEN_USE, access_claims, grants_from_claims

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
GRANTS = (
    Grant(1, Permission.READWRITE, (r"/v3/targetGroups/\d+",)),
    Grant(2, Permission.WRITE),
    Grant(3, Permission.READ, ("/v1.1/transaction/a", "/v1.1/transaction/b")),
)


def _client(grants: tuple[Grant, ...] = GRANTS) -> Client:
    till = Principal(7, 3, PrincipalKind.TILL, "till.1", "Till 1")
    return Client(
        id=11,
        org_id=3,
        client_key="K" * 25,
        name="integration",
        description="",
        expiration_token_time=600,
        default_till_id=7,
        is_valid=True,
        grants=grants,
        created_on=NOW,
        last_updated_on=NOW,
        created_by=till,
        last_updated_by=till,
    )


def _claims() -> dict[str, Any]:
    return access_claims(
        issuer="http://issuer", client=_client(), entities=DEFAULT_ENTITIES, now=NOW
    )


def test_claims_content() -> None:
    claims = _claims()
    issued = int(NOW.timestamp())
    assert claims["iss"] == "http://issuer"
    assert claims["sub"] == claims["client_key"] == "K" * 25
    assert (claims["iat"], claims["exp"]) == (issued, issued + 600)
    assert claims["client_id"] == 11
    assert claims["org_id"] == 3
    assert claims["default_till"] == 7
    assert claims["token_use"] == TOKEN_USE
    assert claims["scopes"][0] == {
        "entityId": 1,
        "entity": "TargetGroups",
        "permission": "READWRITE",
        "resources": [r"/v3/targetGroups/\d+"],
    }
    assert [s["entity"] for s in claims["scopes"]] == ["TargetGroups", "All", "Transaction"]


def test_jti_is_fresh_every_time() -> None:
    jtis = {_claims()["jti"] for _ in range(100)}
    assert len(jtis) == 100
    assert all(len(jti) >= 16 for jti in jtis)


def test_round_trip() -> None:
    assert grants_from_claims(_claims()) == GRANTS


def test_no_grants_round_trip() -> None:
    claims = access_claims(issuer="i", client=_client(()), entities=DEFAULT_ENTITIES, now=NOW)
    assert grants_from_claims(claims) == ()


def test_resources_default_to_none() -> None:
    assert grants_from_claims({"scopes": [{"entityId": 2, "permission": "READ"}]}) == (
        Grant(2, Permission.READ),
    )


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({}, id="missing"),
        pytest.param({"scopes": None}, id="null"),
        pytest.param({"scopes": "READ"}, id="string"),
        pytest.param({"scopes": {"entityId": 1, "permission": "READ"}}, id="object"),
        pytest.param({"scopes": ["READ"]}, id="item-string"),
        pytest.param({"scopes": [{"permission": "READ"}]}, id="no-entity"),
        pytest.param({"scopes": [{"entityId": "1", "permission": "READ"}]}, id="entity-str"),
        pytest.param({"scopes": [{"entityId": 1}]}, id="no-permission"),
        pytest.param({"scopes": [{"entityId": 1, "permission": "read"}]}, id="lower-perm"),
        pytest.param({"scopes": [{"entityId": 1, "permission": "ADMIN"}]}, id="bad-perm"),
        pytest.param({"scopes": [{"entityId": 1, "permission": None}]}, id="null-perm"),
        pytest.param(
            {"scopes": [{"entityId": 1, "permission": "READ", "resources": "/a"}]},
            id="resources-string",
        ),
        pytest.param(
            {"scopes": [{"entityId": 1, "permission": "READ", "resources": [1]}]},
            id="resources-int",
        ),
        pytest.param({"scopes": [{"entityId": 1, "permission": "READ"}, None]}, id="one-bad-item"),
    ],
)
def test_malformed_claims_give_none(claims: dict[str, Any]) -> None:
    assert grants_from_claims(claims) is None

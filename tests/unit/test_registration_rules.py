"""The rules of dynamic client registration (RFC 7591/7592) that need no store: what a request
may ask for, scopes by entity name, a client rule's refusal named in metadata terms, and the
metadata a client is answered with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.certificate_names import CertificateName, NameKind
from keyloft.domain.client_keys import public_key
from keyloft.domain.clients import Client, ClientCredentials
from keyloft.domain.errors import ValidationFailed
from keyloft.domain.registration import (
    AUTH_METHODS,
    ClientMetadata,
    InvalidClientMetadata,
    InvalidRedirectUri,
    ScopeRequest,
    answered_method,
    check_registration,
    check_update,
    client_auth_method,
    client_metadata,
    metadata_problem,
    new_registration_token,
    scope_request,
)
from keyloft.domain.scopes import DEFAULT_ENTITIES, Grant, Permission
from keyloft.web.registration_schemas import RegisteredAuthMethod
from tests.support.fake_idp import generate_key, public_jwk

VALID = ClientMetadata(client_name="orders", scope="All:read")
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TILL = Principal(7, 1, PrincipalKind.TILL, "till.1", "Till 1")


def _client(**changes: object) -> Client:
    fields: dict[str, object] = {
        "id": 1,
        "org_id": 1,
        "client_key": "k" * 25,
        "name": "orders",
        "description": "",
        "expiration_token_time": 600,
        "default_till_id": TILL.id,
        "is_valid": True,
        "grants": (
            Grant(1, Permission.READWRITE, (".*v3/targetGroups.*",)),
            Grant(2, Permission.READ),
        ),
        "created_on": NOW,
        "last_updated_on": NOW,
        "created_by": TILL,
        "last_updated_by": TILL,
    }
    fields.update(changes)
    return Client(**fields)  # type: ignore[arg-type]


def _refusal(metadata: ClientMetadata, **options: bool) -> InvalidClientMetadata:
    with pytest.raises(InvalidClientMetadata) as caught:
        check_registration(metadata, **options)
    return caught.value


def test_a_name_and_a_scope_are_enough() -> None:
    check_registration(VALID)
    assert VALID.auth_method == "client_secret_basic"  # RFC 7591 §2's default


@pytest.mark.parametrize(
    "grants", [[], ["authorization_code"], ["client_credentials", "refresh_token"], ["implicit"]]
)
def test_grant_types_other_than_client_credentials_are_refused(grants: list[str]) -> None:
    refusal = _refusal(ClientMetadata(client_name="a", scope="All:read", grant_types=grants))
    assert refusal.error == "invalid_client_metadata"
    assert refusal.field == "grant_types"
    assert "grant_types" in refusal.message


def test_client_credentials_alone_is_accepted() -> None:
    check_registration(
        ClientMetadata(client_name="a", grant_types=["client_credentials"], response_types=[])
    )


def test_response_types_must_be_empty() -> None:
    refusal = _refusal(ClientMetadata(client_name="a", response_types=["code"]))
    assert refusal.field == "response_types"


def test_redirect_uris_are_refused_as_invalid_redirect_uri() -> None:
    check_registration(ClientMetadata(client_name="a", redirect_uris=[]))
    with pytest.raises(InvalidRedirectUri) as caught:
        check_registration(ClientMetadata(client_name="a", redirect_uris=["https://a.test/cb"]))
    assert caught.value.error == "invalid_redirect_uri"
    assert caught.value.status == 400


def test_the_name_is_required() -> None:
    refusal = _refusal(ClientMetadata(scope="All:read"))
    assert refusal.field == "client_name"


def test_jwks_and_jwks_uri_not_both() -> None:
    both = ClientMetadata(client_name="a", jwks={"keys": []}, jwks_uri="https://a.test/jwks")
    assert "jwks_uri" in _refusal(both).message


def test_private_key_jwt_needs_keys_when_registering_only() -> None:
    keyless = ClientMetadata(client_name="a", token_endpoint_auth_method="private_key_jwt")
    assert _refusal(keyless).field == "token_endpoint_auth_method"
    check_registration(keyless, new=False)  # an update may lean on federated credentials


def test_only_one_certificate_name() -> None:
    two = ClientMetadata(
        client_name="a",
        tls_names={NameKind.SAN_DNS: "a.test", NameKind.SUBJECT_DN: "CN=a"},
    )
    refusal = _refusal(two)
    assert "tls_client_auth_san_dns" in refusal.message
    assert "tls_client_auth_subject_dn" in refusal.message


def test_an_update_names_its_client_and_sends_nothing_issued() -> None:
    check_update(ClientMetadata(client_id="abc"), "abc")
    with pytest.raises(InvalidClientMetadata, match="client_id is required"):
        check_update(ClientMetadata(), "abc")
    with pytest.raises(InvalidClientMetadata, match="does not match"):
        check_update(ClientMetadata(client_id="abd"), "abc")
    for name in ("registration_access_token", "client_secret_expires_at"):
        with pytest.raises(InvalidClientMetadata) as caught:
            check_update(ClientMetadata(client_id="abc", issued_fields=(name,)), "abc")
        assert caught.value.field == name


def test_scope_items_become_the_orgs_entities_ignoring_case() -> None:
    asked = ClientMetadata(
        scope="targetgroups:READWRITE All:read",
        scope_resources={"TargetGroups": [".*v3/targetGroups/1"]},
    )
    request = scope_request(asked, DEFAULT_ENTITIES)
    assert request.entity_names == ["TargetGroups", "All"]
    assert [(s.entity_id, s.permission, s.resources) for s in request.scopes] == [
        (1, "READWRITE", [".*v3/targetGroups/1"]),
        (2, "READ", []),
    ]


@pytest.mark.parametrize(
    ("scope", "named"),
    [
        (None, "scope is required"),
        ("", "scope is empty"),
        ("All", "not <Entity>:<read|write|readwrite>"),
        ("All:admin", "not <Entity>:<read|write|readwrite>"),
        ('All:read "x"', "character RFC 6749 forbids"),
        ("Orders:read", "Orders, which is not a scope entity"),
        ("All:read All:write", "All more than once"),
    ],
)
def test_bad_scopes_are_named(scope: str | None, named: str) -> None:
    with pytest.raises(InvalidClientMetadata) as caught:
        scope_request(ClientMetadata(scope=scope), DEFAULT_ENTITIES)
    assert named in caught.value.message
    assert caught.value.field == "scope"


def test_resources_for_an_entity_not_granted_are_refused() -> None:
    asked = ClientMetadata(scope="All:read", scope_resources={"Transaction": [".*"]})
    with pytest.raises(InvalidClientMetadata) as caught:
        scope_request(asked, DEFAULT_ENTITIES)
    assert caught.value.field == "keyloft_scope_resources.Transaction"


def test_a_rules_refusal_is_named_in_metadata_terms() -> None:
    scopes = ScopeRequest([], ["TargetGroups", "All"])
    lifetime = metadata_problem(
        ValidationFailed(
            "expirationTokenTime must be between 1 and 3600 seconds.", field="expirationTokenTime"
        ),
        scopes,
    )
    assert lifetime.message == "keyloft_token_lifetime must be between 1 and 3600 seconds."
    assert lifetime.field == "keyloft_token_lifetime"
    pattern = metadata_problem(
        ValidationFailed(
            "scopes[1].resources[0] is not valid RE2.", field="scopes[1].resources[0]"
        ),
        scopes,
    )
    assert pattern.message == "keyloft_scope_resources.All[0] is not valid RE2."
    assert pattern.field == "keyloft_scope_resources.All[0]"
    key = metadata_problem(
        ValidationFailed("must not hold a private key.", field="jwks.keys[0].d"), scopes
    )
    assert key.message == "jwks.keys[0].d: must not hold a private key."
    assert key.error == "invalid_client_metadata"


def test_both_secret_methods_make_a_secret_client_answered_as_registered() -> None:
    assert client_auth_method("client_secret_post") == "client_secret_basic"
    assert client_auth_method("private_key_jwt") == "private_key_jwt"
    secret_client = _client()
    assert answered_method(secret_client, "client_secret_post") == "client_secret_post"
    assert answered_method(secret_client, "client_secret_basic") == "client_secret_basic"
    # Changed to another method since (through the management API): the client's own.
    keyed = _client(auth_method="private_key_jwt")
    assert answered_method(keyed, "client_secret_post") == "private_key_jwt"


def test_the_metadata_of_a_client() -> None:
    key = public_key(public_jwk(generate_key("P-256"), kid="k1"))
    client = _client(
        auth_method="tls_client_auth",
        credentials=ClientCredentials(
            jwks=(key,), tls_name=CertificateName(NameKind.SAN_DNS, "partner.test")
        ),
        dpop_bound=True,
    )
    metadata = client_metadata(client, DEFAULT_ENTITIES, "tls_client_auth")
    assert metadata == {
        "client_name": "orders",
        "token_endpoint_auth_method": "tls_client_auth",
        "grant_types": ["client_credentials"],
        "response_types": [],
        "scope": "TargetGroups:readwrite All:read",
        "jwks": {"keys": [dict(key.jwk)]},
        "tls_client_auth_san_dns": "partner.test",
        "dpop_bound_access_tokens": True,
        "tls_client_certificate_bound_access_tokens": False,
        "keyloft_description": "",
        "keyloft_token_lifetime": 600,
        "keyloft_default_till_id": TILL.id,
        "keyloft_scope_resources": {"TargetGroups": [".*v3/targetGroups.*"]},
    }
    assert "jwks_uri" not in metadata


def test_the_request_schema_takes_exactly_the_methods_registrations_may_ask_for() -> None:
    assert get_args(RegisteredAuthMethod) == AUTH_METHODS


def test_registration_tokens_are_long_and_fresh() -> None:
    tokens = {new_registration_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(token) >= 43 for token in tokens)  # 256 bits, base64url

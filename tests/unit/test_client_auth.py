"""Choosing the client authentication method (RFC 6749 §2.3) from the registry."""

from __future__ import annotations

import base64

import pytest

from keyloft.domain.oauth import InvalidClient, InvalidRequest
from keyloft.services.client_auth import (
    ClientAuthRequest,
    method_names,
    select,
)
from tests.unit.fake_node import signing_key, world


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


def test_each_dialect_lists_its_methods_in_registry_order() -> None:
    assert method_names("oauth2") == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ]
    assert method_names("v3") == [
        "v3_key_secret",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ]


@pytest.mark.parametrize(
    ("request_", "chosen"),
    [
        (ClientAuthRequest({}, authorization=basic("a:b")), "client_secret_basic"),
        (ClientAuthRequest({"client_id": "a", "client_secret": "b"}), "client_secret_post"),
        (ClientAuthRequest({"client_id": "a"}), "client_secret_post"),
    ],
)
def test_the_method_whose_credentials_are_present_is_chosen(
    request_: ClientAuthRequest, chosen: str
) -> None:
    assert select(request_, "oauth2").name == chosen


def test_no_credentials_and_two_methods_are_refused() -> None:
    with pytest.raises(InvalidClient, match="Client authentication is required"):
        select(ClientAuthRequest({"grant_type": "client_credentials"}), "oauth2")
    both = ClientAuthRequest({"client_id": "a"}, authorization=basic("a:b"))
    with pytest.raises(InvalidRequest, match="exactly one client authentication method"):
        select(both, "oauth2")


def test_another_authorization_scheme_is_refused_before_anything_else() -> None:
    bearer = ClientAuthRequest({"client_id": "a"}, authorization="Bearer abc")
    with pytest.raises(InvalidClient, match="with Basic or in the body"):
        select(bearer, "oauth2")


def test_the_v3_method_is_not_an_oauth_method() -> None:
    with pytest.raises(InvalidClient):
        select(ClientAuthRequest({"key": "a", "secret": "b"}), "oauth2")
    assert select(ClientAuthRequest({"key": "a", "secret": "b"}), "v3").name == "v3_key_secret"


def test_an_assertion_supersedes_the_form_post_whose_client_id_it_carries() -> None:
    """RFC 7523 requests may name the client: that alone is not a second method."""
    asserted = ClientAuthRequest(
        {
            "client_id": "a",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "x.y.z",
        }
    )
    assert select(asserted, "oauth2").name == "private_key_jwt"
    posted = ClientAuthRequest({"client_id": "a", "client_secret": "b"})
    assert select(posted, "oauth2").name == "client_secret_post"
    both = ClientAuthRequest(
        {"client_id": "a", "client_assertion": "x.y.z"}, authorization=basic("a:b")
    )
    with pytest.raises(InvalidRequest):
        select(both, "oauth2")


@pytest.mark.parametrize(
    ("authorization", "error", "message"),
    [
        ("Basic not-base64!", InvalidRequest, "Malformed Basic credentials."),
        (basic("no-colon"), InvalidRequest, "Malformed Basic credentials."),
        (basic(":secret"), InvalidClient, "Client authentication failed."),
        (basic("key-1:"), InvalidClient, "Client authentication failed."),
    ],
)
async def test_malformed_basic_credentials_are_refused_before_any_lookup(
    authorization: str, error: type[Exception], message: str
) -> None:
    acme = await world(signing_key())
    request = ClientAuthRequest({}, authorization=authorization)
    method = select(request, "oauth2")
    async with acme.node.transaction(write=False) as store:
        with pytest.raises(error) as raised:
            await method.authenticate(request, acme.node, store)
    assert str(raised.value) == message


async def test_basic_ids_and_secrets_are_form_decoded() -> None:
    """RFC 6749 Appendix B: each part is form-urlencoded before the two are joined."""
    acme = await world(signing_key())
    client, _ = acme.node.store.clients.rows[acme.client.id]
    acme.node.store.clients.rows[acme.client.id] = (client, acme.node.hasher.hash("a b+c:d"))
    request = ClientAuthRequest({}, authorization=basic("key%2D1:a+b%2Bc%3Ad"))
    async with acme.node.transaction(write=False) as store:
        found = await select(request, "oauth2").authenticate(request, acme.node, store)
    assert (found.state.client.client_key, found.method) == ("key-1", "client_secret_basic")

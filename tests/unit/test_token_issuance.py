"""The token pipeline on an in-memory node: grant, authentication, scope, mint, use."""

from __future__ import annotations

import dataclasses

import pytest

from keyloft.domain.credentials import SecretHasher
from keyloft.domain.errors import InvalidClientCredentials, TooManyAttempts
from keyloft.domain.oauth import InvalidClient, InvalidRequest, InvalidScope, UnsupportedGrantType
from keyloft.services.client_auth import ClientAuthRequest
from keyloft.services.ports import ClientSecrets
from keyloft.services.token_issuance import OAUTH2, V3, TokenIssuance, TokenRequest
from keyloft.services.usage import to_minute
from tests.unit.fake_node import AUDIENCE, ISSUER, SECRET, World, signing_key, world


@pytest.fixture
async def acme() -> World:
    return await world(signing_key())


def v3(key: str = "key-1", secret: str = SECRET) -> TokenRequest:
    return TokenRequest(ClientAuthRequest({"key": key, "secret": secret}, address="192.0.2.1"))


def oauth(scope: str | None = None, grant: str | None = "client_credentials") -> TokenRequest:
    form = {"client_id": "key-1", "client_secret": SECRET}
    return TokenRequest(ClientAuthRequest(form, address="192.0.2.1"), grant, scope)


async def test_a_v3_token_carries_the_clients_grants_and_notes_the_use(acme: World) -> None:
    node = acme.node
    issued = await TokenIssuance(node).issue(v3(), V3)

    typ, claims = node.key_ring.verify(issued.access_token, issuer=ISSUER, audience=None)
    assert typ == "JWT"
    assert (claims["client_id"], claims["sub"], claims["org_id"]) == (1, "key-1", acme.org.id)
    assert [s["entity"] for s in claims["scopes"]] == ["TargetGroups", "Transaction"]
    assert (issued.expires_in, issued.scope, issued.client.id) == (600, "", acme.client.id)
    assert node.usage.latest(acme.client.id) == to_minute(node.clock.now())
    assert node.units == [False]  # one read; nothing written


async def test_an_oauth_token_is_narrowed_to_the_scope_asked(acme: World) -> None:
    node = acme.node
    issued = await TokenIssuance(node).issue(oauth("TargetGroups:read"), OAUTH2)

    typ, claims = node.key_ring.verify(issued.access_token, issuer=ISSUER, audience=AUDIENCE)
    assert typ == "at+jwt"
    assert issued.scope == claims["scope"] == "TargetGroups:read"
    assert [(s["entity"], s["permission"]) for s in claims["scopes"]] == [("TargetGroups", "READ")]
    whole = await TokenIssuance(node).issue(oauth(), OAUTH2)
    assert whole.scope == "TargetGroups:readwrite Transaction:read"


async def test_a_scope_beyond_the_grants_mints_nothing(acme: World) -> None:
    with pytest.raises(InvalidScope, match="Transaction:write exceeds"):
        await TokenIssuance(acme.node).issue(oauth("Transaction:write"), OAUTH2)
    assert acme.node.usage.latest(acme.client.id) is None


@pytest.mark.parametrize(
    ("grant", "error", "message"),
    [
        (None, InvalidRequest, "grant_type is required."),
        ("", InvalidRequest, "grant_type is required."),
        ("password", UnsupportedGrantType, "Only client_credentials is supported."),
    ],
)
async def test_the_grant_is_checked_before_the_client(
    acme: World, grant: str | None, error: type[Exception], message: str
) -> None:
    asked = dataclasses.replace(oauth(grant=grant), client=ClientAuthRequest({}))
    with pytest.raises(error) as raised:
        await TokenIssuance(acme.node).issue(asked, OAUTH2)
    assert str(raised.value) == message
    assert acme.node.units == []  # no client was looked up


async def test_wrong_and_unknown_credentials_look_alike(acme: World) -> None:
    issuance = TokenIssuance(acme.node)
    with pytest.raises(InvalidClientCredentials) as wrong_secret:
        await issuance.issue(v3(secret="not-it"), V3)
    with pytest.raises(InvalidClientCredentials) as unknown_key:
        await issuance.issue(v3(key="no-such-key"), V3)
    assert str(wrong_secret.value) == str(unknown_key.value) == "Invalid client key or secret."
    asked = dataclasses.replace(
        oauth(), client=ClientAuthRequest({"client_id": "key-1", "client_secret": "x"})
    )
    with pytest.raises(InvalidClient) as refused:
        await issuance.issue(asked, OAUTH2)
    assert refused.value.error == "invalid_client"
    assert "key-1" not in str(refused.value)
    assert acme.node.usage.latest(acme.client.id) is None


async def test_a_deleted_client_is_refused_as_unknown(acme: World) -> None:
    store = acme.node.store
    client, secret_hash = store.clients.rows[acme.client.id]
    store.clients.rows[acme.client.id] = (dataclasses.replace(client, is_valid=False), secret_hash)
    with pytest.raises(InvalidClientCredentials, match=r"Invalid client key or secret\."):
        await TokenIssuance(acme.node).issue(v3(), V3)


async def test_guessing_blocks_the_key_even_for_the_right_secret(acme: World) -> None:
    issuance = TokenIssuance(acme.node)
    for _ in range(3):
        with pytest.raises(InvalidClientCredentials):
            await issuance.issue(v3(secret="guess"), V3)
    with pytest.raises(TooManyAttempts) as blocked:
        await issuance.issue(v3(), V3)
    assert blocked.value.retry_after > 0


async def test_the_replaced_secret_works_only_during_its_grace(acme: World) -> None:
    node = acme.node
    clients = node.store.clients
    until = node.clock.now().replace(microsecond=0)
    await clients.set_secrets(
        acme.client.id,
        ClientSecrets(node.hasher.hash("new-secret"), node.hasher.hash(SECRET), until),
        actor_id=1,
        now=node.clock.now(),
        expected_version=acme.client.version,
    )
    node.clock.advance(-1)
    assert (await TokenIssuance(node).issue(v3(), V3)).client.id == acme.client.id
    assert (await TokenIssuance(node).issue(v3(secret="new-secret"), V3)).access_token
    node.clock.advance(1)
    with pytest.raises(InvalidClientCredentials):
        await TokenIssuance(node).issue(v3(), V3)


async def test_a_secret_hashed_under_a_retired_server_secret_is_upgraded(acme: World) -> None:
    node = acme.node
    old, new = SecretHasher(b"o" * 32), SecretHasher(b"n" * 32, [b"o" * 32])
    client, _ = node.store.clients.rows[acme.client.id]
    node.store.clients.rows[acme.client.id] = (client, old.hash(SECRET))
    node.hasher = new

    await TokenIssuance(node).issue(v3(), V3)

    stored = node.store.clients.rows[acme.client.id][1]
    assert new.check(SECRET, stored).name == "MATCH"
    assert stored != old.hash(SECRET)
    assert node.units == [False, True]  # the read, then the upgrade's write


async def test_an_upgrade_never_replaces_a_secret_rotated_meanwhile(acme: World) -> None:
    node = acme.node
    old = SecretHasher(b"o" * 32)
    client, _ = node.store.clients.rows[acme.client.id]
    node.store.clients.rows[acme.client.id] = (client, old.hash(SECRET))
    node.hasher = SecretHasher(b"n" * 32, [b"o" * 32])
    issuance = TokenIssuance(node)
    authenticated = await issuance.authenticate(v3().client, V3)
    assert authenticated.upgrade is not None
    node.store.clients.rows[acme.client.id] = (client, "rotated-meanwhile")

    await issuance.note_use(authenticated, node.clock.now())

    assert node.store.clients.rows[acme.client.id][1] == "rotated-meanwhile"

"""Secretless clients in the store: a client without a secret, its keys, key set URL and
federated credentials read back as written and replaced by an update (its secret dropped or
given); each credential's last use moving only forward; assertions claimed once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from keyloft.domain.client_keys import check_jwks
from keyloft.domain.clients import CLIENT_SECRET, PRIVATE_KEY_JWT, Client, ClientCredentials
from keyloft.domain.federation import check_rules
from keyloft.services.ports import ClientSecrets
from keyloft.storage.store import Database
from tests.support.seeds import NOW, make_client, seed


def _jwks() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return {"keys": [json.loads(ECAlgorithm.to_jwk(key)) | {"kid": "k1"}]}


CREDENTIALS = ClientCredentials(
    jwks=check_jwks(_jwks()),
    jwks_uri="https://partner.example/jwks.json",
    federated=check_rules(
        [
            {
                "name": "ci",
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:acme/app:ref:refs/heads/main",
                "claims": {"repository": "acme/app", "run_attempt": 2},
                "maxAgeSeconds": 600,
            }
        ],
        "federatedCredentials",
        allow_http=False,
    ),
)


async def _update(store: Any, client: Client, minutes: int, **changes: Any) -> Client | None:
    """Store ``client`` as it is but for ``changes`` (auth method, credentials, secrets)."""
    changed: Client | None = await store.clients.update(
        client.id,
        name=client.name,
        description=client.description,
        expiration_token_time=client.expiration_token_time,
        default_till_id=client.default_till_id,
        grants=client.grants,
        actor_id=client.created_by.id,
        now=NOW + timedelta(minutes=minutes),
        expected_version=client.version,
        **changes,
    )
    return changed


async def test_a_client_without_a_secret_keeps_its_credentials(database: Database) -> None:
    seeded = await seed(database)
    plain = await make_client(database, seeded)
    async with database.unit_of_work(write=True) as store:
        found = await store.clients.credentials_by_id(plain.id)
        assert found is not None
        changed = await _update(
            store,
            found[0],
            1,
            auth_method=PRIVATE_KEY_JWT,
            credentials=CREDENTIALS,
            secrets=ClientSecrets(None),
        )
        assert changed is not None
    async with database.unit_of_work(write=False) as store:
        found = await store.clients.credentials(plain.client_key)
    assert found is not None
    client, secrets = found
    assert (client.auth_method, client.credentials) == (PRIVATE_KEY_JWT, CREDENTIALS)
    assert secrets == ClientSecrets(None)
    async with database.unit_of_work(write=True) as store:
        back = await _update(store, client, 2, secrets=ClientSecrets("kl1$hmac-sha256$" + "1" * 64))
        assert back is not None
        assert (back.auth_method, back.credentials) == (CLIENT_SECRET, ClientCredentials())
        found = await store.clients.credentials_by_id(client.id)
    assert found is not None
    assert found[1].current == "kl1$hmac-sha256$" + "1" * 64


async def test_credential_uses_only_move_forward(database: Database) -> None:
    client = await make_client(database, await seed(database))
    early, late = NOW, NOW + timedelta(minutes=5)
    async with database.unit_of_work(write=True) as store:
        await store.clients.record_credential_use({(client.id, "key:a"): late})
        await store.clients.record_credential_use(
            {(client.id, "key:a"): early, (client.id, "federated:ci"): early}
        )
    async with database.unit_of_work(write=False) as store:
        uses = await store.clients.credential_uses(client.id)
    assert uses == {"key:a": late, "federated:ci": early}


async def test_an_assertion_is_claimed_once_until_purged(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        assert await store.used_assertions.claim("a" * 64, NOW) is True
        assert await store.used_assertions.claim("b" * 64, NOW + timedelta(minutes=5)) is True
    async with database.unit_of_work(write=True) as store:
        assert await store.used_assertions.claim("a" * 64, NOW) is False
        assert await store.used_assertions.purge(NOW + timedelta(seconds=1)) == 1
    async with database.unit_of_work(write=True) as store:
        assert await store.used_assertions.claim("a" * 64, NOW) is True
        assert await store.used_assertions.claim("b" * 64, NOW) is False

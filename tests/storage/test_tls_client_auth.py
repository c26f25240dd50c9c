"""tls_client_auth clients in the store (SQLite and PostgreSQL): the one name their certificate
must carry is written and read back as registered, of each kind, replaced by an update, and
gone when the client switches to another method."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from keyloft.domain.certificate_names import CertificateName, NameKind, check_certificate_name
from keyloft.domain.clients import CLIENT_SECRET, TLS_CLIENT_AUTH, Client, ClientCredentials
from keyloft.services.ports import ClientSecrets
from keyloft.storage.store import Database
from tests.support.seeds import GRANTS, NOW, new_key, seed

LONG_DN = "CN=" + "p" * 60 + "," + ",".join(f"OU=unit {n}" for n in range(60)) + ",O=Acme,C=DE"


async def _update(store: Any, client: Client, minutes: int, **changes: Any) -> Client | None:
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


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tlsClientAuthSubjectDn", "CN=Partner Service, OU=Payments,O=Acme GmbH,C=DE"),
        ("tlsClientAuthSubjectDn", LONG_DN),
        ("tlsClientAuthSanDns", "partner.example"),
        ("tlsClientAuthSanUri", "spiffe://acme.example/ns/pay/sa/" + "x" * 1900),
        ("tlsClientAuthSanIp", "2001:db8::7"),
        ("tlsClientAuthSanEmail", "Ops.Team@Partner.Example"),
    ],
)
async def test_the_name_is_read_back_as_registered(
    database: Database, field: str, value: str
) -> None:
    name = check_certificate_name(field, value)
    seeded = await seed(database)
    async with database.unit_of_work(write=True) as store:
        added = await store.clients.add(
            org_id=seeded.org.id,
            client_key=new_key(),
            secret_hash=None,
            name="partner",
            description="",
            expiration_token_time=600,
            default_till_id=seeded.till.id,
            grants=GRANTS,
            actor_id=seeded.admin.id,
            now=NOW,
            auth_method=TLS_CLIENT_AUTH,
            credentials=ClientCredentials(tls_name=name),
        )
    assert added.credentials.tls_name == name
    async with database.unit_of_work(write=False) as store:
        found = await store.clients.credentials(added.client_key)
    assert found is not None
    client, secrets = found
    assert client.auth_method == TLS_CLIENT_AUTH
    assert client.credentials == ClientCredentials(tls_name=name)
    assert client.credentials.tls_name is not None
    assert client.credentials.tls_name.value == value
    assert secrets == ClientSecrets(None)


async def test_an_update_replaces_the_name_and_a_switch_drops_it(database: Database) -> None:
    seeded = await seed(database)
    dn = CertificateName(NameKind.SUBJECT_DN, "CN=partner,O=Acme")
    uri = CertificateName(NameKind.SAN_URI, "urn:partner")
    async with database.unit_of_work(write=True) as store:
        client = await store.clients.add(
            org_id=seeded.org.id,
            client_key=new_key(),
            secret_hash=None,
            name="partner",
            description="",
            expiration_token_time=600,
            default_till_id=seeded.till.id,
            grants=GRANTS,
            actor_id=seeded.admin.id,
            now=NOW,
            auth_method=TLS_CLIENT_AUTH,
            credentials=ClientCredentials(tls_name=dn),
        )
        changed = await _update(
            store,
            client,
            1,
            auth_method=TLS_CLIENT_AUTH,
            credentials=ClientCredentials(tls_name=uri),
        )
        assert changed is not None
        assert changed.credentials.tls_name == uri
    async with database.unit_of_work(write=True) as store:
        found = await store.clients.credentials_by_id(client.id)
        assert found is not None
        assert found[0].credentials.tls_name == uri
        back = await _update(
            store,
            found[0],
            2,
            auth_method=CLIENT_SECRET,
            credentials=ClientCredentials(),
            secrets=ClientSecrets("kl1$hmac-sha256$" + "1" * 64),
        )
        assert back is not None
    async with database.unit_of_work(write=False) as store:
        again = await store.clients.credentials_by_id(client.id)
    assert again is not None
    assert (again[0].auth_method, again[0].credentials) == (CLIENT_SECRET, ClientCredentials())

"""The registration repository (RFC 7591/7592), on SQLite and PostgreSQL: a registration is
found by its client's key only, rotated only while the replaced hash is still stored, removed,
and gone with its client's row; clients made otherwise have none."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from keyloft.domain.registration import Registration
from keyloft.storage.store import Database
from tests.support.seeds import NOW, make_client, seed

HASH = "kl1$hmac-sha256$" + "1" * 64
NEW_HASH = "kl1$hmac-sha256$" + "2" * 64
LATER = NOW + timedelta(minutes=5)


async def test_a_registration_is_found_by_its_clients_key(database: Database) -> None:
    seeded = await seed(database)
    registered = await make_client(database, seeded, name="registered")
    other = await make_client(database, seeded, name="made-otherwise")
    async with database.unit_of_work(write=True) as store:
        await store.registrations.add(
            registered.id, HASH, auth_method="client_secret_post", now=NOW
        )
    async with database.unit_of_work(write=False) as store:
        found = await store.registrations.find(registered.client_key)
        assert found == Registration(registered.id, HASH, "client_secret_post", NOW, None)
        assert await store.registrations.find(other.client_key) is None
        assert await store.registrations.find("no-such-key") is None
        assert await store.registrations.find(registered.client_key.upper()) is None
        assert await store.registrations.find("bad\x00key") is None


async def test_rotation_replaces_only_the_hash_it_names(database: Database) -> None:
    seeded = await seed(database)
    client = await make_client(database, seeded)
    async with database.unit_of_work(write=True) as store:
        await store.registrations.add(client.id, HASH, auth_method="client_secret_basic", now=NOW)
    async with database.unit_of_work(write=True) as store:
        assert await store.registrations.rotate(
            client.id, NEW_HASH, replacing=HASH, auth_method="private_key_jwt", now=LATER
        )
        # A second update that read the same, now replaced, token changes nothing.
        assert not await store.registrations.rotate(
            client.id, "kl1$other", replacing=HASH, auth_method="client_secret_basic", now=LATER
        )
    async with database.unit_of_work(write=False) as store:
        found = await store.registrations.find(client.client_key)
    assert found == Registration(client.id, NEW_HASH, "private_key_jwt", NOW, LATER)


async def test_removed_and_gone_with_the_client_row(database: Database) -> None:
    seeded = await seed(database)
    first = await make_client(database, seeded, name="first")
    second = await make_client(database, seeded, name="second")
    async with database.unit_of_work(write=True) as store:
        await store.registrations.add(first.id, HASH, auth_method="client_secret_basic", now=NOW)
        await store.registrations.add(second.id, HASH, auth_method="client_secret_basic", now=NOW)
    async with database.unit_of_work(write=True) as store:
        await store.registrations.remove(first.id)
    async with database.unit_of_work(write=False) as store:
        assert await store.registrations.find(first.client_key) is None
        assert await store.registrations.find(second.client_key) is not None
    # Clients are deleted softly; should a row ever go, its registration goes with it.
    async with database.unit_of_work(write=True) as store:
        await store.session.execute(
            text("DELETE FROM client_grants WHERE client_id = :id"), {"id": second.id}
        )
        await store.session.execute(text("DELETE FROM clients WHERE id = :id"), {"id": second.id})
    async with database.unit_of_work(write=False) as store:
        left = await store.session.scalar(text("SELECT count(*) FROM client_registrations"))
    assert left == 0

"""What the schema refuses on both stores: a row naming an org, principal, client or scope
entity that does not exist (a ``StoreConflict``, nothing of the unit of work kept), and a
second row with a unique value; uniqueness compares exactly, case included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.audit import AuditEvent
from keyloft.domain.errors import StoreConflict
from keyloft.domain.scopes import Grant, Permission
from keyloft.services.ports import Store
from keyloft.storage.store import Database
from tests.support.seeds import NOW, Seeded, add_client, add_org, add_principal, make_client, seed

MISSING = 987_654_321


async def _principal_in_unknown_org(store: Store, seeded: Seeded) -> None:
    await add_principal(store, MISSING, "orphan")


async def _entity_in_unknown_org(store: Store, seeded: Seeded) -> None:
    await store.scopes.add(MISSING, "Orphan", "/orphan")


async def _orphan(store: Store, seeded: Seeded, **unknown: int) -> None:
    """A client naming something that does not exist (``unknown``: the org, Till or actor)."""
    named: dict[str, int] = {
        "org_id": seeded.org.id,
        "default_till_id": seeded.till.id,
        "actor_id": seeded.admin.id,
    }
    await store.clients.add(
        client_key="orphan-key",
        secret_hash="h",
        name="orphan",
        description="",
        expiration_token_time=60,
        grants=(),
        now=NOW,
        **(named | unknown),
    )


async def _client_in_unknown_org(store: Store, seeded: Seeded) -> None:
    await add_client(store, seeded, grants=())
    await _orphan(store, seeded, org_id=MISSING)


async def _client_with_unknown_till(store: Store, seeded: Seeded) -> None:
    await _orphan(store, seeded, default_till_id=MISSING)


async def _client_by_unknown_actor(store: Store, seeded: Seeded) -> None:
    await _orphan(store, seeded, actor_id=MISSING)


async def _grant_of_unknown_entity(store: Store, seeded: Seeded) -> None:
    await add_client(store, seeded, grants=(Grant(1, Permission.READ), Grant(99, Permission.READ)))


async def _grant_of_another_orgs_entity(store: Store, seeded: Seeded) -> None:
    other = await add_org(store, "Other")
    await store.scopes.add(other.id, "Fourth", "/fourth")
    await store.scopes.add(other.id, "Fifth", "/fifth")
    await store.scopes.add(other.id, "Sixth", "/sixth")
    await store.scopes.add(other.id, "Seventh", "/seventh")
    await add_client(store, seeded, grants=(Grant(4, Permission.READ),))


async def _revocation_of_unknown_client(store: Store, seeded: Seeded) -> None:
    await store.revocations.add("orphan-jti", MISSING, NOW)


async def _event_of_unknown_org(store: Store, seeded: Seeded) -> None:
    await store.audit.add(
        AuditEvent(MISSING, NOW, None, "org.create", "org", "x", operator="ops@host")
    )


async def _event_by_unknown_actor(store: Store, seeded: Seeded) -> None:
    ghost = Principal(MISSING, seeded.org.id, PrincipalKind.ADMIN_USER, "ghost", "Ghost")
    await store.audit.add(AuditEvent(seeded.org.id, NOW, ghost, "client.create", "client", "x"))


ORPHANS: dict[str, Callable[[Store, Seeded], Awaitable[None]]] = {
    "principal-of-unknown-org": _principal_in_unknown_org,
    "scope-entity-of-unknown-org": _entity_in_unknown_org,
    "client-of-unknown-org": _client_in_unknown_org,
    "client-with-unknown-default-till": _client_with_unknown_till,
    "client-by-unknown-actor": _client_by_unknown_actor,
    "grant-of-unknown-entity": _grant_of_unknown_entity,
    "grant-of-an-entity-only-another-org-has": _grant_of_another_orgs_entity,
    "revocation-of-unknown-client": _revocation_of_unknown_client,
    "audit-event-of-unknown-org": _event_of_unknown_org,
    "audit-event-by-unknown-actor": _event_by_unknown_actor,
}


async def _write(
    database: Database, seeded: Seeded, change: Callable[..., Awaitable[None]]
) -> None:
    async with database.unit_of_work(write=True) as store:
        await add_org(store, "Made in the same unit of work")
        await change(store, seeded)


@pytest.mark.parametrize("orphan", ORPHANS.values(), ids=ORPHANS.keys())
async def test_a_row_naming_what_does_not_exist_is_refused(
    database: Database, orphan: Callable[[Store, Seeded], Awaitable[None]]
) -> None:
    seeded = await seed(database)
    with pytest.raises(StoreConflict):
        await _write(database, seeded, orphan)
    async with database.unit_of_work(write=False) as store:
        assert await store.orgs.find_by_name("Made in the same unit of work") is None
        assert await store.clients.list(seeded.org.id, include_invalid=True) == []
        assert len(await store.scopes.list(seeded.org.id)) == 3


async def _two_orgs(database: Database, seeded: Seeded) -> tuple[str, str]:
    async with database.unit_of_work(write=True) as store:
        first = await add_org(store, "Twin")
        second = await add_org(store, "TWIN")
    return first.name, second.name


async def _two_principals(database: Database, seeded: Seeded) -> tuple[str, str]:
    async with database.unit_of_work(write=True) as store:
        first = await add_principal(store, seeded.org.id, "twin")
        second = await add_principal(store, seeded.org.id, "Twin")
    return first.code, second.code


async def _two_clients(database: Database, seeded: Seeded) -> tuple[str, str]:
    first = await make_client(database, seeded, name="twin")
    second = await make_client(database, seeded, name="TWIN")
    return first.name, second.name


UNIQUE = {
    "org-names": _two_orgs,
    "login-codes": _two_principals,
    "client-names": _two_clients,
}


@pytest.mark.parametrize("make_two", UNIQUE.values(), ids=UNIQUE.keys())
async def test_uniqueness_tells_case_apart(
    database: Database, make_two: Callable[[Database, Seeded], Awaitable[tuple[str, str]]]
) -> None:
    seeded = await seed(database)
    first, second = await make_two(database, seeded)
    assert first != second
    assert first.lower() == second.lower()


async def test_a_login_code_is_unique_within_its_org_too(database: Database) -> None:
    seeded = await seed(database)
    with pytest.raises(StoreConflict):
        async with database.unit_of_work(write=True) as store:
            await add_principal(store, seeded.org.id, seeded.till.code, PrincipalKind.ADMIN_USER)
    async with database.unit_of_work(write=False) as store:
        admins = await store.principals.list_in_org(seeded.org.id, PrincipalKind.ADMIN_USER)
    assert admins == [seeded.admin]

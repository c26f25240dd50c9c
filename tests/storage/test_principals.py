"""The principal repository: admins and Tills by id, by login code (exact, active only) and
per org and kind; codes are unique across orgs."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.errors import StoreConflict
from keyloft.services.ports import Store
from keyloft.storage.store import Database, SqlStore
from tests.support.seeds import Seeded, add_org, add_principal, seed

ADMIN = PrincipalKind.ADMIN_USER
TILL = PrincipalKind.TILL


async def _deactivate(store: Store, principal: Principal) -> None:
    # No port retires a principal yet; the console's tests change the row the same way.
    assert isinstance(store, SqlStore)
    await store.session.execute(
        text("UPDATE principals SET is_active = :active WHERE id = :id"),
        {"active": False, "id": principal.id},
    )


@pytest.mark.parametrize("kind", [ADMIN, TILL])
async def test_a_principal_reads_back_by_id_and_by_code(
    database: Database, kind: PrincipalKind
) -> None:
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store)
        added = await add_principal(store, org.id, "front-desk", kind, name="Front desk")
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.get(added.id) == added
        assert await store.principals.credentials("front-desk") == (added, "hash-of-front-desk")
    assert (added.org_id, added.kind, added.code, added.name) == (
        org.id,
        kind,
        "front-desk",
        "Front desk",
    )
    assert added.description == ""


@pytest.mark.parametrize(
    "password_hash",
    [
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=19$m=8,t=1,p=1$" + "A" * 200,
        "h" * 255,
    ],
    ids=["argon2-production", "argon2-long", "longest"],
)
async def test_the_password_hash_reads_back_unchanged(
    database: Database, password_hash: str
) -> None:
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store)
        await add_principal(store, org.id, "ann", password_hash=password_hash)
    async with database.unit_of_work(write=False) as store:
        found = await store.principals.credentials("ann")
    assert found is not None
    assert found[1] == password_hash


@pytest.mark.parametrize("name", ["Till № 1", "Kasse Köln", "レジ 2", "Front 'desk'", "n" * 200])
async def test_a_principals_name_reads_back_exactly(database: Database, name: str) -> None:
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store)
        added = await add_principal(store, org.id, "named", name=name)
    async with database.unit_of_work(write=False) as store:
        found = await store.principals.get(added.id)
    assert found is not None
    assert found.name == name


@pytest.mark.parametrize(
    "code",
    ["ACME-ADMIN", "Acme-Admin", "acme-admin ", " acme-admin", "acme-admi", "acme-admin2", "acme%"],
)
async def test_a_login_code_is_matched_exactly(database: Database, code: str) -> None:
    seeded = await seed(database)
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.credentials(code) is None
        assert await store.principals.find_in_org(seeded.org.id, code, ADMIN) is None
        assert await store.principals.credentials("acme-admin") is not None


@pytest.mark.parametrize("code", ["\x00", "acme-admin\x00", "\x00acme-admin", "ac\x00me"])
async def test_a_code_the_store_cannot_hold_finds_nothing(database: Database, code: str) -> None:
    seeded = await seed(database)
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.credentials(code) is None
        assert await store.principals.find_in_org(seeded.org.id, code, ADMIN) is None
        assert await store.principals.code_taken(code) is False
        assert await store.principals.code_taken("acme-admin") is True  # the transaction lives
    async with database.unit_of_work(write=False) as store:  # and the store goes on
        assert await store.principals.credentials("acme-admin") is not None


async def _seeded_with_retired_till(database: Database) -> tuple[Seeded, Principal]:
    seeded = await seed(database)
    async with database.unit_of_work(write=True) as store:
        await _deactivate(store, seeded.tills[1])
    return seeded, seeded.tills[1]


async def test_a_retired_principal_has_no_credentials(database: Database) -> None:
    _, retired = await _seeded_with_retired_till(database)
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.credentials(retired.code) is None


async def test_a_retired_principal_is_not_in_its_org(database: Database) -> None:
    seeded, retired = await _seeded_with_retired_till(database)
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.get_in_org(seeded.org.id, retired.id, TILL) is None
        assert await store.principals.find_in_org(seeded.org.id, retired.code, TILL) is None
        assert await store.principals.list_in_org(seeded.org.id, TILL) == [seeded.tills[0]]


async def test_a_retired_principal_is_still_found_by_id_for_attribution(
    database: Database,
) -> None:
    _, retired = await _seeded_with_retired_till(database)
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.get(retired.id) == retired


async def test_a_retired_principals_code_stays_taken(database: Database) -> None:
    seeded, retired = await _seeded_with_retired_till(database)
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.code_taken(retired.code) is True
    with pytest.raises(StoreConflict):
        async with database.unit_of_work(write=True) as store:
            await add_principal(store, seeded.org.id, retired.code)


@pytest.mark.parametrize(
    ("org_of", "kind", "found"),
    [("own", TILL, True), ("other", TILL, False), ("own", ADMIN, False)],
    ids=["own-org-and-kind", "other-org", "other-kind"],
)
async def test_get_in_org_needs_the_org_and_the_kind(
    database: Database, org_of: str, kind: PrincipalKind, found: bool
) -> None:
    acme = await seed(database, "Acme")
    globex = await seed(database, "Globex")
    org_id = (acme if org_of == "own" else globex).org.id
    till = acme.till
    async with database.unit_of_work(write=False) as store:
        by_id = await store.principals.get_in_org(org_id, till.id, kind)
        by_code = await store.principals.find_in_org(org_id, till.code, kind)
    assert by_id == by_code == (till if found else None)


async def test_list_in_org_holds_the_orgs_principals_of_one_kind_in_id_order(
    database: Database,
) -> None:
    acme = await seed(database, "Acme")
    await seed(database, "Globex")
    async with database.unit_of_work(write=True) as store:
        late = await add_principal(store, acme.org.id, "acme.till.0")
    async with database.unit_of_work(write=False) as store:
        tills = await store.principals.list_in_org(acme.org.id, TILL)
        admins = await store.principals.list_in_org(acme.org.id, ADMIN)
    assert tills == [*acme.tills, late]
    assert admins == [acme.admin]


async def test_an_org_without_principals_lists_none(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store, "Empty")
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.list_in_org(org.id, TILL) == []
        assert await store.principals.list_in_org(org.id, ADMIN) == []


@pytest.mark.parametrize(
    ("code", "taken"),
    [("acme.till.1", True), ("acme-admin", True), ("ACME.TILL.1", False), ("nobody", False)],
)
async def test_code_taken(database: Database, code: str, taken: bool) -> None:
    await seed(database)
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.code_taken(code) is taken


async def test_a_code_is_unique_across_orgs(database: Database) -> None:
    await seed(database, "Acme")
    async with database.unit_of_work(write=True) as store:
        globex = await add_org(store, "Globex")
    with pytest.raises(StoreConflict):
        async with database.unit_of_work(write=True) as store:
            await add_principal(store, globex.id, "acme.till.1")
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.list_in_org(globex.id, TILL) == []


async def test_adding_a_principal_announces_its_org(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store)
        assert not store.changes.orgs
        await add_principal(store, org.id, "announced")
    assert store.changes.orgs == {org.id}
    assert not store.changes.clients

"""Accounts in the principal and org repositories: listing an org's admins or Tills with their
state, a password change, disable, enable and the soft delete (each moving the session epoch
and announcing the org), last logins moved only forward, and an org's settings changed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.orgs import Org
from keyloft.services.ports import Store
from keyloft.storage.store import Database
from tests.support.seeds import NOW, add_org, add_principal, seed

ADMIN = PrincipalKind.ADMIN_USER
TILL = PrincipalKind.TILL


async def test_accounts_list_the_active_and_disabled_but_not_the_deleted(
    database: Database,
) -> None:
    seeded = await seed(database)
    async with database.unit_of_work(write=True) as store:
        second = await add_principal(store, seeded.org.id, "second-admin", ADMIN)
        gone = await add_principal(store, seeded.org.id, "gone-admin", ADMIN)
        await store.principals.set_active(second, False)
        await store.principals.delete(gone, NOW)
    async with database.unit_of_work(write=False) as store:
        admins = await store.principals.accounts(seeded.org.id, ADMIN)
        tills = await store.principals.accounts(seeded.org.id, TILL)
        deleted = await store.principals.account(seeded.org.id, "gone-admin", ADMIN)
        wrong_kind = await store.principals.account(seeded.org.id, "gone-admin", TILL)
    assert [(a.principal.code, a.active, a.deleted) for a in admins] == [
        (seeded.admin.code, True, False),
        ("second-admin", False, False),
    ]
    assert [a.principal for a in tills] == list(seeded.tills)
    assert deleted is not None
    assert (deleted.active, deleted.deleted, deleted.state) == (False, True, "deleted")
    assert wrong_kind is None


async def test_each_change_moves_the_session_epoch_and_announces_the_org(
    database: Database,
) -> None:
    seeded = await seed(database)
    admin = seeded.admin

    async def change(work: Callable[[Store], Awaitable[None]]) -> tuple[Principal, str, int] | None:
        async with database.unit_of_work(write=True) as store:
            await work(store)
            assert store.changes.orgs == {seeded.org.id}
            assert not store.changes.clients
        async with database.unit_of_work(write=False) as store:
            return await store.principals.session_credentials(admin.code)

    assert await change(lambda s: s.principals.set_password(admin, "hash-new")) == (
        admin,
        "hash-new",
        1,
    )
    # Disabled: neither a session nor a login.
    assert await change(lambda s: s.principals.set_active(admin, False)) is None
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.credentials(admin.code) is None
    assert await change(lambda s: s.principals.set_active(admin, True)) == (admin, "hash-new", 3)
    assert await change(lambda s: s.principals.delete(admin, NOW)) is None
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.credentials(admin.code) is None
        # Attribution reads still find it, and its login stays taken.
        assert await store.principals.get(admin.id) == admin
        assert await store.principals.code_taken(admin.code)


async def test_a_new_principal_starts_at_epoch_zero(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store)
        added = await add_principal(store, org.id, "fresh", TILL, password_hash="h")
    async with database.unit_of_work(write=False) as store:
        assert await store.principals.session_credentials("fresh") == (added, "h", 0)
        assert await store.principals.session_credentials("nobody") is None


async def test_last_logins_move_only_forward(database: Database) -> None:
    seeded = await seed(database)
    admin, till = seeded.admin, seeded.till
    later = NOW + timedelta(minutes=5)
    async with database.unit_of_work(write=True) as store:
        await store.principals.record_logins({admin.id: later, till.id: NOW})
        assert not store.changes  # nobody caches it: nothing to announce
    async with database.unit_of_work(write=True) as store:
        await store.principals.record_logins({admin.id: NOW, till.id: later})
        await store.principals.record_logins({})
    async with database.unit_of_work(write=False) as store:
        admins = await store.principals.accounts(seeded.org.id, ADMIN)
        tills = {a.principal.id: a for a in await store.principals.accounts(seeded.org.id, TILL)}
    assert admins[0].last_login_on == later
    assert tills[till.id].last_login_on == later
    assert all(a.last_login_on is None for i, a in tills.items() if i != till.id)


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata"])
async def test_an_org_update_reads_back_and_is_announced(database: Database, timezone: str) -> None:
    seeded = await seed(database)
    async with database.unit_of_work(write=True) as store:
        other = await add_org(store, "Other")
        changed = Org(seeded.org.id, "Renamed", timezone, 3, 900)
        await store.orgs.update(changed)
        assert store.changes.orgs == {seeded.org.id}
    async with database.unit_of_work(write=False) as store:
        assert await store.orgs.get(seeded.org.id) == changed
        assert await store.orgs.list() == [changed, other]

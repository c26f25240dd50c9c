"""The client repository: clients and their grants read back as written; lookups by key, by
id and by page; last uses only ever move forward; every change but a re-hash or a recorded
use moves the version, and a change made against a version that moved is refused."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from keyloft.domain.clients import Client
from keyloft.domain.errors import StoreConflict
from keyloft.domain.scopes import Grant, Permission
from keyloft.services.ports import ClientPage, ClientSecrets
from keyloft.storage.store import Database
from tests.support.api import Statements
from tests.support.seeds import (
    NOW,
    SECRET_HASH,
    Seeded,
    add_client,
    make_client,
    new_key,
    seed,
)

READ, WRITE, READWRITE = Permission.READ, Permission.WRITE, Permission.READWRITE
OTHER_HASH = "kl1$hmac-sha256$" + "b" * 64
LATER = NOW + timedelta(minutes=5)


async def _get(database: Database, client: Client) -> Client | None:
    async with database.unit_of_work(write=False) as store:
        return await store.clients.get(client.org_id, client.client_key)


async def _secrets(database: Database, client_id: int) -> ClientSecrets:
    async with database.unit_of_work(write=False) as store:
        found = await store.clients.credentials_by_id(client_id)
    assert found is not None
    return found[1]


# -- reading back what was added -------------------------------------------------------------


async def test_a_client_reads_back_as_added(database: Database) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded, name="orders-sync", ttl=900)
    assert await _get(database, added) == added
    assert (added.org_id, added.name, added.description) == (
        seeded.org.id,
        "orders-sync",
        "Nightly order export",
    )
    assert (added.expiration_token_time, added.default_till_id) == (900, seeded.till.id)
    assert (added.is_valid, added.version, added.last_used_on) == (True, 1, None)
    assert added.created_on == added.last_updated_on == NOW
    assert added.created_on.tzinfo is not None
    assert added.created_on.utcoffset() == timedelta(0)
    assert added.created_by == added.last_updated_by == seeded.admin


@pytest.mark.parametrize(
    "description",
    [
        "",
        "d" * 500,
        "line one\nline two\ttabbed",
        "Ünïcödé — 説明",
        'it\'s "quoted" \\ ok',
        "x" * 5000,
    ],
    ids=["empty", "longest-allowed", "control", "unicode", "quotes", "long-text"],
)
async def test_a_description_reads_back_exactly(database: Database, description: str) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded, description=description)
    found = await _get(database, added)
    assert found is not None
    assert found.description == description


@pytest.mark.parametrize(
    "name", ["n" * 100, "Orders Sync", "Kasse-Köln", "注文同期", "  spaced  ", "a"]
)
async def test_a_name_reads_back_exactly(database: Database, name: str) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded, name=name)
    found = await _get(database, added)
    assert found is not None
    assert found.name == name


@pytest.mark.parametrize("ttl", [1, 600, 30 * 24 * 3600])
async def test_a_token_lifetime_reads_back(database: Database, ttl: int) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded, ttl=ttl)
    found = await _get(database, added)
    assert found is not None
    assert found.expiration_token_time == ttl


GRANT_SETS: dict[str, tuple[list[Grant], list[Grant]]] = {
    # given -> read back (in entity order)
    "none": ([], []),
    "one-read": ([Grant(2, READ)], [Grant(2, READ)]),
    "each-permission": (
        [Grant(1, READ), Grant(2, WRITE), Grant(3, READWRITE)],
        [Grant(1, READ), Grant(2, WRITE), Grant(3, READWRITE)],
    ),
    "given-out-of-order": (
        [Grant(3, WRITE), Grant(1, READ, ("/a",)), Grant(2, READWRITE)],
        [Grant(1, READ, ("/a",)), Grant(2, READWRITE), Grant(3, WRITE)],
    ),
    "regex-resources": (
        [Grant(1, READ, (r"^/v3/targetGroups/[0-9]+$", r".*\?expand=(all|none)", "%_[]"))],
        [Grant(1, READ, (r"^/v3/targetGroups/[0-9]+$", r".*\?expand=(all|none)", "%_[]"))],
    ),
    "unicode-resources": (
        [Grant(1, WRITE, ("/ünïcödé/.*", "/注文/[0-9]+"))],
        [Grant(1, WRITE, ("/ünïcödé/.*", "/注文/[0-9]+"))],
    ),
    "many-resources": (
        [Grant(1, READ, tuple(f"/r{n}" for n in range(50)))],
        [Grant(1, READ, tuple(f"/r{n}" for n in range(50)))],
    ),
    "resource-order-kept": (
        [Grant(1, READ, ("/z", "/a", "/m"))],
        [Grant(1, READ, ("/z", "/a", "/m"))],
    ),
}


@pytest.mark.parametrize(("given", "expected"), GRANT_SETS.values(), ids=GRANT_SETS.keys())
async def test_grants_read_back_in_entity_order(
    database: Database, given: list[Grant], expected: list[Grant]
) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded, grants=given)
    found = await _get(database, added)
    assert found is not None
    assert list(found.grants) == list(added.grants) == expected


OFFSETS = [
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=-8)),
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-12)),
    timezone(timedelta(hours=5, minutes=45)),
]
OFFSET_IDS = ["+05:30", "-08:00", "+14:00", "-12:00", "+05:45"]


@pytest.mark.parametrize("zone", OFFSETS, ids=OFFSET_IDS)
async def test_times_given_in_any_offset_read_back_as_the_same_instant_in_utc(
    database: Database, zone: timezone
) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded, now=NOW.astimezone(zone))
    found = await _get(database, added)
    assert found is not None
    assert found.created_on == found.last_updated_on == NOW
    assert found.created_on.utcoffset() == timedelta(0)
    assert found.created_on.microsecond == NOW.microsecond


# -- lookups ---------------------------------------------------------------------------------


async def test_a_client_is_found_by_key_only_in_its_own_org(database: Database) -> None:
    acme = await seed(database, "Acme")
    globex = await seed(database, "Globex")
    added = await make_client(database, acme)
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.get(globex.org.id, added.client_key) is None
        assert await store.clients.get(acme.org.id, added.client_key) == added


async def test_credentials_find_a_client_of_any_org_with_its_secret(database: Database) -> None:
    await seed(database, "Acme")
    globex = await seed(database, "Globex")
    added = await make_client(database, globex)
    async with database.unit_of_work(write=False) as store:
        by_key = await store.clients.credentials(added.client_key)
        by_id = await store.clients.credentials_by_id(added.id)
    assert by_key == by_id == (added, ClientSecrets(SECRET_HASH))


@pytest.mark.parametrize("client_key", ["no-such-key", "", "K" * 64])
async def test_an_unknown_key_finds_nothing(database: Database, client_key: str) -> None:
    seeded = await seed(database)
    await make_client(database, seeded)
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.get(seeded.org.id, client_key) is None
        assert await store.clients.credentials(client_key) is None


@pytest.mark.parametrize("change", ["upper", "lower", "trailing-space", "prefix"])
async def test_a_key_is_matched_exactly(database: Database, change: str) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded, client_key="MixedCaseKey0123456789ab")
    asked = {
        "upper": added.client_key.upper(),
        "lower": added.client_key.lower(),
        "trailing-space": added.client_key + " ",
        "prefix": added.client_key[:-1],
    }[change]
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.get(seeded.org.id, asked) is None
        assert await store.clients.credentials(asked) is None
        assert await store.clients.get(seeded.org.id, added.client_key) == added


@pytest.mark.parametrize("client_id", [0, -1, 987_654_321, 2**63 - 1])
async def test_an_unknown_id_finds_nothing(database: Database, client_id: int) -> None:
    seeded = await seed(database)
    await make_client(database, seeded)
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.credentials_by_id(client_id) is None


@pytest.mark.parametrize("position", ["alone", "start", "middle", "end"])
async def test_a_key_the_store_cannot_hold_finds_nothing(database: Database, position: str) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    key = added.client_key
    asked = {
        "alone": "\x00",
        "start": "\x00" + key,
        "middle": key[:5] + "\x00" + key[5:],
        "end": key + "\x00",
    }[position]
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.get(seeded.org.id, asked) is None
        assert await store.clients.credentials(asked) is None
        assert await store.clients.get(seeded.org.id, key) == added


async def test_a_deleted_client_is_still_found_by_key_marked_invalid(database: Database) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    async with database.unit_of_work(write=True) as store:
        await store.clients.invalidate(
            added.id, actor_id=seeded.admin.id, now=LATER, expected_version=1
        )
    found = await _get(database, added)
    assert found is not None
    assert found.is_valid is False


# -- listing and paging ----------------------------------------------------------------------


async def _clients(database: Database, seeded: Seeded, names: list[str]) -> list[Client]:
    async with database.unit_of_work(write=True) as store:
        return [await add_client(store, seeded, name=name) for name in names]


async def _page(database: Database, page: ClientPage) -> list[Client]:
    async with database.unit_of_work(write=False) as store:
        return await store.clients.page(page)


async def test_list_holds_the_valid_clients_in_id_order_or_all_on_demand(
    database: Database,
) -> None:
    seeded = await seed(database)
    first, second, third = await _clients(database, seeded, ["c", "a", "b"])
    async with database.unit_of_work(write=True) as store:
        await store.clients.invalidate(
            second.id, actor_id=seeded.admin.id, now=LATER, expected_version=1
        )
    async with database.unit_of_work(write=False) as store:
        valid = await store.clients.list(seeded.org.id, include_invalid=False)
        everything = await store.clients.list(seeded.org.id, include_invalid=True)
    assert [c.id for c in valid] == [first.id, third.id]
    assert [c.id for c in everything] == [first.id, second.id, third.id]
    assert [c.is_valid for c in everything] == [True, False, True]


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 6, 7, 50])
async def test_pages_walk_every_client_once_in_id_order(database: Database, limit: int) -> None:
    seeded = await seed(database)
    made = await _clients(database, seeded, [f"client-{n}" for n in range(7)])
    walked: list[Client] = []
    after: int | None = None
    for _ in range(10):
        page = await _page(database, ClientPage(seeded.org.id, after_id=after, limit=limit))
        assert len(page) <= limit
        walked += page
        if len(page) < limit:
            break
        after = page[-1].id
    assert walked == made


async def test_a_page_after_the_last_client_is_empty(database: Database) -> None:
    seeded = await seed(database)
    made = await _clients(database, seeded, ["one", "two"])
    assert await _page(database, ClientPage(seeded.org.id, after_id=made[-1].id)) == []
    assert await _page(database, ClientPage(seeded.org.id, after_id=0)) == made


async def test_pages_are_sealed_to_their_org(database: Database) -> None:
    acme = await seed(database, "Acme")
    globex = await seed(database, "Globex")
    await _clients(database, acme, ["acme-1", "acme-2"])
    theirs = await _clients(database, globex, ["globex-1"])
    assert await _page(database, ClientPage(globex.org.id)) == theirs
    assert await _page(database, ClientPage(globex.org.id, name_contains="acme")) == []


CATALOGUE = [
    "Orders sync",
    "orders-export",
    "Coupons 100%",
    "Coupons_x",
    "back\\slash",
    "percent%literal",
    "under_score",
    "a_b",
    "axb",
    "100 percent",
    "[bracket]",
    "caret^hat",
    "star*name",
    "dot.name",
    "quote'name",
    'double"quote',
    "dash--dash",
    "semi;colon",
    "slash/*comment*/",
    "MiXeD CaSe",
]
NEEDLES = [
    "orders",
    "ORDERS",
    "Sync",
    "mixed case",
    "%",
    "_",
    "\\",
    "100%",
    "a_b",
    "_x",
    "%l",
    "\\s",
    "[",
    "]",
    "[b",
    "^",
    "*",
    ".",
    "'",
    '"',
    "--",
    ";",
    "/*",
    "*/",
    "x",
    "zzz",
    "",
]


@pytest.mark.parametrize("needle", NEEDLES)
async def test_the_name_filter_finds_the_text_literally_ignoring_case(
    database: Database, needle: str
) -> None:
    seeded = await seed(database)
    await _clients(database, seeded, CATALOGUE)
    found = await _page(database, ClientPage(seeded.org.id, name_contains=needle))
    expected = [name for name in CATALOGUE if needle.lower() in name.lower()]
    assert [client.name for client in found] == expected


@pytest.mark.parametrize("needle", ["\x00", "orders\x00", "\x00orders"])
async def test_a_filter_the_store_cannot_hold_finds_nothing(
    database: Database, needle: str
) -> None:
    seeded = await seed(database)
    await _clients(database, seeded, ["Orders sync"])
    assert await _page(database, ClientPage(seeded.org.id, name_contains=needle)) == []
    assert len(await _page(database, ClientPage(seeded.org.id, name_contains="orders"))) == 1
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.name_in_use(seeded.org.id, needle, except_id=None) is False
        assert await store.clients.name_in_use(seeded.org.id, "Orders sync", except_id=None)


async def test_the_name_filter_pages_and_shows_deleted_clients_on_demand(
    database: Database,
) -> None:
    seeded = await seed(database)
    gone, _, kept = await _clients(database, seeded, ["Orders old", "Coupons", "orders new"])
    async with database.unit_of_work(write=True) as store:
        await store.clients.invalidate(
            gone.id, actor_id=seeded.admin.id, now=LATER, expected_version=1
        )
    live = await _page(database, ClientPage(seeded.org.id, name_contains="ORDERS", limit=1))
    assert [c.id for c in live] == [kept.id]
    first = await _page(
        database,
        ClientPage(seeded.org.id, include_invalid=True, name_contains="orders", limit=1),
    )
    assert [c.id for c in first] == [gone.id]
    rest = await _page(
        database,
        ClientPage(
            seeded.org.id,
            include_invalid=True,
            name_contains="orders",
            after_id=first[-1].id,
            limit=1,
        ),
    )
    assert [c.id for c in rest] == [kept.id]


# -- last use --------------------------------------------------------------------------------


async def _record(database: Database, uses: dict[int, datetime]) -> None:
    async with database.unit_of_work(write=True) as store:
        await store.clients.record_use(uses)


MINUTES = [NOW + timedelta(minutes=n) for n in range(4)]
SEQUENCES = {
    "first-use": ([1], 1),
    "forward": ([1, 2], 2),
    "never-backward": ([2, 1], 2),
    "same-again": ([1, 1], 1),
    "back-then-forward": ([2, 0, 3], 3),
    "forward-in-steps": ([0, 1, 2, 3], 3),
}


@pytest.mark.parametrize(("steps", "last"), SEQUENCES.values(), ids=SEQUENCES.keys())
async def test_the_last_use_only_moves_forward(
    database: Database, steps: list[int], last: int
) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    for step in steps:
        await _record(database, {added.id: MINUTES[step]})
    found = await _get(database, added)
    assert found is not None
    assert found.last_used_on == MINUTES[last]


@pytest.mark.parametrize("zone", OFFSETS, ids=OFFSET_IDS)
async def test_a_use_given_in_any_offset_reads_back_as_the_same_instant(
    database: Database, zone: timezone
) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    await _record(database, {added.id: LATER.astimezone(zone)})
    found = await _get(database, added)
    assert found is not None
    assert found.last_used_on == LATER
    assert found.last_used_on is not None
    assert found.last_used_on.utcoffset() == timedelta(0)


@pytest.mark.parametrize("zone", OFFSETS, ids=OFFSET_IDS)
async def test_uses_are_compared_as_instants_not_as_wall_clocks(
    database: Database, zone: timezone
) -> None:
    """An earlier instant whose wall clock reads later must not replace a later one."""
    seeded = await seed(database)
    added = await make_client(database, seeded)
    await _record(database, {added.id: LATER})
    earlier = (LATER - timedelta(seconds=1)).astimezone(zone)
    await _record(database, {added.id: earlier})
    found = await _get(database, added)
    assert found is not None
    assert found.last_used_on == LATER
    later = (LATER + timedelta(microseconds=1)).astimezone(zone)
    await _record(database, {added.id: later})
    found = await _get(database, added)
    assert found is not None
    assert found.last_used_on == later


async def test_uses_of_many_clients_are_recorded_at_once(database: Database) -> None:
    seeded = await seed(database)
    made = await _clients(database, seeded, ["a", "b", "c"])
    await _record(database, {made[0].id: MINUTES[3]})
    await _record(database, {c.id: MINUTES[n] for n, c in enumerate(made)})
    async with database.unit_of_work(write=False) as store:
        listed = await store.clients.list(seeded.org.id, include_invalid=False)
    assert [c.last_used_on for c in listed] == [MINUTES[3], MINUTES[1], MINUTES[2]]


async def test_a_use_of_an_unknown_client_is_ignored(database: Database) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    await _record(database, {987_654_321: LATER, added.id: LATER})
    found = await _get(database, added)
    assert found is not None
    assert found.last_used_on == LATER


async def test_no_uses_ask_the_database_nothing(database: Database) -> None:
    seeded = await seed(database)
    await make_client(database, seeded)
    seen = Statements()
    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with database.unit_of_work(write=True) as store:
            await store.clients.record_use({})
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    assert seen.queries() == []


async def test_a_use_is_no_change_of_the_client(database: Database) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    async with database.unit_of_work(write=True) as store:
        await store.clients.record_use({added.id: LATER})
    assert not store.changes
    found = await _get(database, added)
    assert found is not None
    assert (found.version, found.last_updated_on, found.last_updated_by) == (
        1,
        added.last_updated_on,
        added.last_updated_by,
    )


# -- counting and names ----------------------------------------------------------------------


async def test_count_valid_counts_the_orgs_valid_clients(database: Database) -> None:
    acme = await seed(database, "Acme")
    globex = await seed(database, "Globex")
    made = await _clients(database, acme, ["a", "b", "c"])
    await _clients(database, globex, ["g"])
    async with database.unit_of_work(write=True) as store:
        await store.clients.invalidate(
            made[0].id, actor_id=acme.admin.id, now=LATER, expected_version=1
        )
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.count_valid(acme.org.id) == 2
        assert await store.clients.count_valid(globex.org.id) == 1
        assert await store.clients.count_valid(987_654_321) == 0


NAME_QUESTIONS = {
    "taken": ("acme", "orders", None, True),
    "except-itself": ("acme", "orders", "self", False),
    "except-another": ("acme", "orders", "other", True),
    "other-case": ("acme", "ORDERS", None, False),
    "deleted-clients-name": ("acme", "retired", None, False),
    "other-org": ("globex", "orders", None, False),
    "prefix": ("acme", "order", None, False),
}


@pytest.mark.parametrize(
    ("org_of", "name", "excepting", "in_use"), NAME_QUESTIONS.values(), ids=NAME_QUESTIONS.keys()
)
async def test_name_in_use(
    database: Database, org_of: str, name: str, excepting: str | None, in_use: bool
) -> None:
    acme = await seed(database, "Acme")
    globex = await seed(database, "Globex")
    orders, other, retired = await _clients(database, acme, ["orders", "other", "retired"])
    async with database.unit_of_work(write=True) as store:
        await store.clients.invalidate(
            retired.id, actor_id=acme.admin.id, now=LATER, expected_version=1
        )
    org_id = (acme if org_of == "acme" else globex).org.id
    except_id = {"self": orders.id, "other": other.id, None: None}[excepting]
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.name_in_use(org_id, name, except_id=except_id) is in_use


async def test_two_valid_clients_of_an_org_cannot_share_a_name(database: Database) -> None:
    seeded = await seed(database)
    first = await make_client(database, seeded, name="twin")
    with pytest.raises(StoreConflict):
        await make_client(database, seeded, name="twin")
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.list(seeded.org.id, include_invalid=True) == [first]


async def test_a_deleted_clients_name_is_free_again(database: Database) -> None:
    seeded = await seed(database)
    first = await make_client(database, seeded, name="twin")
    async with database.unit_of_work(write=True) as store:
        await store.clients.invalidate(
            first.id, actor_id=seeded.admin.id, now=LATER, expected_version=1
        )
    second = await make_client(database, seeded, name="twin")
    async with database.unit_of_work(write=True) as store:
        await store.clients.invalidate(
            second.id, actor_id=seeded.admin.id, now=LATER, expected_version=1
        )
    third = await make_client(database, seeded, name="twin")
    async with database.unit_of_work(write=False) as store:
        listed = await store.clients.list(seeded.org.id, include_invalid=True)
    assert [(c.id, c.is_valid) for c in listed] == [
        (first.id, False),
        (second.id, False),
        (third.id, True),
    ]


async def test_two_orgs_may_use_the_same_name(database: Database) -> None:
    acme = await seed(database, "Acme")
    globex = await seed(database, "Globex")
    mine = await make_client(database, acme, name="shared")
    theirs = await make_client(database, globex, name="shared")
    assert mine.id != theirs.id
    assert await _get(database, theirs) == theirs


async def test_a_client_key_is_unique_across_orgs(database: Database) -> None:
    acme = await seed(database, "Acme")
    globex = await seed(database, "Globex")
    key = new_key()
    await make_client(database, acme, client_key=key)
    with pytest.raises(StoreConflict):
        await make_client(database, globex, client_key=key, name="elsewhere")
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.list(globex.org.id, include_invalid=True) == []


# -- re-hashing a secret ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replacing", "stored"),
    [(None, OTHER_HASH), (SECRET_HASH, OTHER_HASH), ("kl1$hmac-sha256$" + "c" * 64, SECRET_HASH)],
    ids=["unconditional", "replacing-the-stored-hash", "replacing-a-hash-no-longer-stored"],
)
async def test_a_rehash_changes_the_hash_only_while_the_replaced_one_is_stored(
    database: Database, replacing: str | None, stored: str
) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    async with database.unit_of_work(write=True) as store:
        await store.clients.set_secret_hash(added.id, OTHER_HASH, replacing=replacing)
    assert store.changes.clients == {added.id}
    assert (await _secrets(database, added.id)).current == stored
    assert await _get(database, added) == added  # no new version: the secret did not change


# -- changes against a version ---------------------------------------------------------------


async def _update(
    database: Database,
    seeded: Seeded,
    client: Client,
    expected_version: int,
    *,
    name: str = "renamed",
    grants: tuple[Grant, ...] = (Grant(3, WRITE, ("/tx",)),),
) -> tuple[Client | None, set[int]]:
    async with database.unit_of_work(write=True) as store:
        changed = await store.clients.update(
            client.id,
            name=name,
            description="changed",
            expiration_token_time=60,
            default_till_id=seeded.tills[1].id,
            grants=grants,
            actor_id=seeded.tills[0].id,
            now=LATER,
            expected_version=expected_version,
        )
    return changed, store.changes.clients


async def test_an_update_at_the_current_version_applies_and_moves_it(database: Database) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    changed, announced = await _update(database, seeded, added, 1)
    assert changed is not None
    assert announced == {added.id}
    assert (changed.name, changed.description, changed.expiration_token_time) == (
        "renamed",
        "changed",
        60,
    )
    assert changed.default_till_id == seeded.tills[1].id
    assert changed.grants == (Grant(3, WRITE, ("/tx",)),)
    assert (changed.version, changed.last_updated_on, changed.last_updated_by) == (
        2,
        LATER,
        seeded.tills[0],
    )
    assert (changed.created_on, changed.created_by) == (added.created_on, added.created_by)
    assert await _get(database, added) == changed


@pytest.mark.parametrize("stale", [0, 2, 7])
async def test_an_update_at_another_version_changes_nothing(database: Database, stale: int) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    changed, announced = await _update(database, seeded, added, stale)
    assert changed is None
    assert announced == set()
    assert await _get(database, added) == added


async def test_an_update_of_an_unknown_client_changes_nothing(database: Database) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    changed, announced = await _update(database, seeded, replace(added, id=987_654_321), 1)
    assert (changed, announced) == (None, set())
    assert await _get(database, added) == added


async def test_an_update_may_drop_every_grant(database: Database) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    changed, _ = await _update(database, seeded, added, 1, grants=())
    assert changed is not None
    assert changed.grants == ()
    found = await _get(database, added)
    assert found is not None
    assert found.grants == ()


async def test_each_change_moves_the_version_by_one(database: Database) -> None:
    seeded = await seed(database)
    client = await make_client(database, seeded)
    for expected in range(1, 5):
        changed, _ = await _update(database, seeded, client, expected, name=f"v{expected + 1}")
        assert changed is not None
        assert changed.version == expected + 1
        client = changed
    async with database.unit_of_work(write=True) as store:
        rotated = await store.clients.set_secrets(
            client.id,
            ClientSecrets(OTHER_HASH),
            actor_id=seeded.admin.id,
            now=LATER,
            expected_version=5,
        )
        assert rotated is not None
        deleted = await store.clients.invalidate(
            client.id, actor_id=seeded.admin.id, now=LATER, expected_version=6
        )
    assert deleted is not None
    assert (rotated.version, deleted.version) == (6, 7)


async def _invalidate(
    database: Database, seeded: Seeded, client: Client, expected_version: int
) -> tuple[Client | None, set[int]]:
    async with database.unit_of_work(write=True) as store:
        changed = await store.clients.invalidate(
            client.id, actor_id=seeded.tills[0].id, now=LATER, expected_version=expected_version
        )
    return changed, store.changes.clients


async def test_invalidating_at_the_current_version_applies_and_moves_it(
    database: Database,
) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    changed, announced = await _invalidate(database, seeded, added, 1)
    assert changed is not None
    assert announced == {added.id}
    assert (changed.is_valid, changed.version, changed.last_updated_on) == (False, 2, LATER)
    assert changed.last_updated_by == seeded.tills[0]
    assert (changed.name, changed.grants) == (added.name, added.grants)


@pytest.mark.parametrize("stale", [0, 2, 7])
async def test_invalidating_at_another_version_changes_nothing(
    database: Database, stale: int
) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    changed, announced = await _invalidate(database, seeded, added, stale)
    assert (changed, announced) == (None, set())
    assert await _get(database, added) == added


async def _rotate(
    database: Database, seeded: Seeded, client: Client, secrets: ClientSecrets, expected: int
) -> tuple[Client | None, set[int]]:
    async with database.unit_of_work(write=True) as store:
        changed = await store.clients.set_secrets(
            client.id, secrets, actor_id=seeded.admin.id, now=LATER, expected_version=expected
        )
    return changed, store.changes.clients


@pytest.mark.parametrize("zone", [UTC, *OFFSETS], ids=["UTC", *OFFSET_IDS])
async def test_a_rotation_keeps_the_replaced_secret_until_its_grace_ends(
    database: Database, zone: timezone
) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    ends = (LATER + timedelta(hours=1)).astimezone(zone)
    rotated = ClientSecrets(OTHER_HASH, SECRET_HASH, ends)
    changed, announced = await _rotate(database, seeded, added, rotated, 1)
    assert changed is not None
    assert (changed.version, announced) == (2, {added.id})
    stored = await _secrets(database, added.id)
    assert stored == rotated
    assert stored.previous_expires_at is not None
    assert stored.previous_expires_at.utcoffset() == timedelta(0)
    assert stored.previous_at(LATER) == SECRET_HASH
    assert stored.previous_at(ends) is None


async def test_a_rotation_without_grace_forgets_the_replaced_secret(database: Database) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    grace = ClientSecrets(OTHER_HASH, SECRET_HASH, LATER + timedelta(hours=1))
    await _rotate(database, seeded, added, grace, 1)
    final = "kl1$hmac-sha256$" + "d" * 64
    changed, _ = await _rotate(database, seeded, added, ClientSecrets(final), 2)
    assert changed is not None
    assert await _secrets(database, added.id) == ClientSecrets(final)


@pytest.mark.parametrize("stale", [0, 2, 7])
async def test_a_rotation_at_another_version_changes_nothing(
    database: Database, stale: int
) -> None:
    seeded = await seed(database)
    added = await make_client(database, seeded)
    changed, announced = await _rotate(database, seeded, added, ClientSecrets(OTHER_HASH), stale)
    assert (changed, announced) == (None, set())
    assert await _secrets(database, added.id) == ClientSecrets(SECRET_HASH)
    assert await _get(database, added) == added


# -- concurrent writers (real commits) ---------------------------------------------------------


@pytest.mark.parametrize("writers", [2, 6])
async def test_of_concurrent_updates_at_one_version_exactly_one_applies(
    committed: Database, writers: int
) -> None:
    seeded = await seed(committed)
    added = await make_client(committed, seeded)
    outcomes = await asyncio.gather(
        *(_update(committed, seeded, added, 1, name=f"writer-{n}") for n in range(writers))
    )
    applied = [changed for changed, _ in outcomes if changed is not None]
    assert len(applied) == 1
    assert await _get(committed, added) == applied[0]
    assert applied[0].version == 2


async def test_an_update_and_a_delete_at_one_version_do_not_both_apply(
    committed: Database,
) -> None:
    seeded = await seed(committed)
    added = await make_client(committed, seeded)
    (updated, _), (deleted, _) = await asyncio.gather(
        _update(committed, seeded, added, 1), _invalidate(committed, seeded, added, 1)
    )
    assert (updated is None) != (deleted is None)
    found = await _get(committed, added)
    assert found == (updated or deleted)
    assert found is not None
    assert found.version == 2


async def _try_add(database: Database, seeded: Seeded, name: str) -> Client | None:
    try:
        return await make_client(database, seeded, name=name)
    except StoreConflict:
        return None


@pytest.mark.parametrize("writers", [2, 6])
async def test_of_concurrent_creates_with_one_name_exactly_one_is_stored(
    committed: Database, writers: int
) -> None:
    seeded = await seed(committed)
    outcomes = await asyncio.gather(*(_try_add(committed, seeded, "race") for _ in range(writers)))
    stored = [client for client in outcomes if client is not None]
    assert len(stored) == 1
    async with committed.unit_of_work(write=False) as store:
        assert await store.clients.list(seeded.org.id, include_invalid=True) == stored


async def test_concurrent_uses_leave_the_latest(committed: Database) -> None:
    seeded = await seed(committed)
    added = await make_client(committed, seeded)
    times = [NOW + timedelta(seconds=n) for n in (3, 9, 1, 7, 5)]
    await asyncio.gather(*(_record(committed, {added.id: at}) for at in times))
    found = await _get(committed, added)
    assert found is not None
    assert found.last_used_on == max(times)

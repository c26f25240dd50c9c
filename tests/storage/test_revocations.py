"""The revocation repository: a revoked token id is recorded once with its expiry, found
again, and listed while it has not expired; every revocation is announced."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from keyloft.storage.store import Database
from tests.support.seeds import NOW, make_client, seed

EXPIRES = NOW + timedelta(minutes=10)


async def _client_id(database: Database) -> int:
    return (await make_client(database, await seed(database))).id


async def _revoke(
    database: Database, client_id: int, *revoked: tuple[str, datetime]
) -> dict[str, float]:
    async with database.unit_of_work(write=True) as store:
        for jti, expires in revoked:
            await store.revocations.add(jti, client_id, expires)
    return store.changes.revoked


async def test_a_revoked_token_is_found_and_announced_with_its_expiry(database: Database) -> None:
    client_id = await _client_id(database)
    announced = await _revoke(database, client_id, ("jti-1", EXPIRES))
    assert announced == {"jti-1": EXPIRES.timestamp()}
    async with database.unit_of_work(write=False) as store:
        assert await store.revocations.is_revoked("jti-1") is True
        assert await store.revocations.is_revoked("jti-2") is False
        assert await store.revocations.is_revoked("JTI-1") is False


async def test_revoking_twice_records_once_and_announces_both_times(database: Database) -> None:
    client_id = await _client_id(database)
    await _revoke(database, client_id, ("jti-1", EXPIRES))
    again = await _revoke(database, client_id, ("jti-1", EXPIRES), ("jti-1", EXPIRES))
    assert again == {"jti-1": EXPIRES.timestamp()}
    async with database.unit_of_work(write=False) as store:
        assert await store.revocations.unexpired(NOW) == [("jti-1", EXPIRES)]


@pytest.mark.parametrize("jti", ["\x00", "jti-1\x00", "\x00jti-1"])
async def test_an_id_the_store_cannot_hold_is_not_revoked(database: Database, jti: str) -> None:
    client_id = await _client_id(database)
    await _revoke(database, client_id, ("jti-1", EXPIRES))
    async with database.unit_of_work(write=False) as store:
        assert await store.revocations.is_revoked(jti) is False
        assert await store.revocations.is_revoked("jti-1") is True


@pytest.mark.parametrize("jti", ["j" * 64, "550e8400-e29b-41d4-a716-446655440000", "a.b-c_d"])
async def test_token_ids_read_back_exactly(database: Database, jti: str) -> None:
    client_id = await _client_id(database)
    await _revoke(database, client_id, (jti, EXPIRES))
    async with database.unit_of_work(write=False) as store:
        assert await store.revocations.is_revoked(jti) is True
        assert await store.revocations.unexpired(NOW) == [(jti, EXPIRES)]


BOUNDARIES = {
    "expired-long-ago": (timedelta(hours=-1), False),
    "expired-just-now": (timedelta(microseconds=-1), False),
    "expires-this-instant": (timedelta(0), False),
    "expires-in-a-microsecond": (timedelta(microseconds=1), True),
    "expires-later": (timedelta(days=30), True),
}


@pytest.mark.parametrize(("offset", "listed"), BOUNDARIES.values(), ids=BOUNDARIES.keys())
async def test_unexpired_holds_the_tokens_that_expire_after_now(
    database: Database, offset: timedelta, listed: bool
) -> None:
    client_id = await _client_id(database)
    await _revoke(database, client_id, ("edge", NOW + offset), ("control", NOW + timedelta(1)))
    async with database.unit_of_work(write=False) as store:
        found = dict(await store.revocations.unexpired(NOW))
    assert ("edge" in found) is listed
    assert found["control"] == NOW + timedelta(1)


@pytest.mark.parametrize(
    "zone",
    [timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-10))],
    ids=["+05:30", "-10:00"],
)
async def test_expiry_and_now_compare_as_instants_whatever_their_offsets(
    database: Database, zone: timezone
) -> None:
    client_id = await _client_id(database)
    await _revoke(database, client_id, ("jti", EXPIRES.astimezone(zone)))
    async with database.unit_of_work(write=False) as store:
        before = await store.revocations.unexpired(
            (EXPIRES - timedelta(seconds=1)).astimezone(zone)
        )
        after = await store.revocations.unexpired((EXPIRES + timedelta(seconds=1)).astimezone(zone))
    assert before == [("jti", EXPIRES)]
    assert before[0][1].utcoffset() == timedelta(0)
    assert after == []

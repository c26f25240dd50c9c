"""The signing key repository: keys list oldest first with their lifetimes as stored; the
sealed private key can be replaced (a new server secret) and a key retired once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from keyloft.domain.errors import StoreConflict
from keyloft.services.ports import StoredKey
from keyloft.storage.store import Database
from tests.support.seeds import NOW

JWK = {"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "k", "use": "sig", "alg": "RS256"}


def _key(
    kid: str,
    minutes: int = 0,
    *,
    activates_at: datetime | None = None,
    retired_at: datetime | None = None,
) -> StoredKey:
    created = NOW + timedelta(minutes=minutes)
    return StoredKey(kid, "RS256", f"sealed-{kid}", created, activates_at, retired_at)


async def _add(database: Database, *keys: StoredKey) -> None:
    async with database.unit_of_work(write=True) as store:
        for key in keys:
            await store.keys.add(key, {**JWK, "kid": key.kid})


async def _listed(database: Database) -> list[StoredKey]:
    async with database.unit_of_work(write=False) as store:
        return await store.keys.list()


async def test_no_keys_list_empty(database: Database) -> None:
    assert await _listed(database) == []


async def test_keys_list_oldest_first_whatever_the_order_they_were_added(
    database: Database,
) -> None:
    await _add(database, _key("middle", 5), _key("newest", 10))
    await _add(database, _key("oldest", -5))
    assert [key.kid for key in await _listed(database)] == ["oldest", "middle", "newest"]


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
async def test_a_keys_algorithm_and_sealed_form_read_back(
    database: Database, algorithm: str
) -> None:
    sealed = "v1." + "Zm9v" * 400  # as long as a sealed RSA key
    key = StoredKey(f"kid-{algorithm}", algorithm, sealed, NOW)
    await _add(database, key)
    assert await _listed(database) == [key]


LIFETIMES: dict[str, dict[str, datetime]] = {
    "published-and-signing": {},
    "pending": {"activates_at": NOW + timedelta(minutes=10)},
    "retired": {"activates_at": NOW, "retired_at": NOW + timedelta(days=30)},
    "pending-in-an-offset": {
        "activates_at": (NOW + timedelta(hours=1)).astimezone(timezone(timedelta(hours=-7)))
    },
}


@pytest.mark.parametrize("lifetime", LIFETIMES.values(), ids=LIFETIMES.keys())
async def test_a_keys_lifetime_reads_back_as_the_same_instants(
    database: Database, lifetime: dict[str, datetime]
) -> None:
    key = _key("timed", 0, **lifetime)
    await _add(database, key)
    (found,) = await _listed(database)
    assert found == key
    for at in (found.created_at, found.activates_at, found.retired_at):
        assert at is None or at.utcoffset() == timedelta(0)
    assert found.starts == key.starts


async def test_a_kid_is_unique(database: Database) -> None:
    await _add(database, _key("only"))
    with pytest.raises(StoreConflict):
        await _add(database, _key("only", 1))
    assert [key.kid for key in await _listed(database)] == ["only"]


async def test_replacing_the_sealed_form_changes_that_key_only(database: Database) -> None:
    await _add(database, _key("one"), _key("two", 1))
    async with database.unit_of_work(write=True) as store:
        await store.keys.replace_encrypted("one", "resealed-one")
        await store.keys.replace_encrypted("no-such-kid", "ignored")
    one, two = await _listed(database)
    assert (one.kid, one.encrypted_private_key) == ("one", "resealed-one")
    assert two == _key("two", 1)


async def test_a_key_is_retired_once(database: Database) -> None:
    await _add(database, _key("one"), _key("two", 1))
    first_at = NOW + timedelta(days=1)
    async with database.unit_of_work(write=True) as store:
        assert await store.keys.retire("one", first_at) is True
    async with database.unit_of_work(write=True) as store:
        assert await store.keys.retire("one", first_at + timedelta(days=1)) is False
        assert await store.keys.retire("no-such-kid", first_at) is False
    one, two = await _listed(database)
    assert one.retired_at == first_at
    assert two.retired_at is None

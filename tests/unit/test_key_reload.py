"""Refreshing the key ring reuses keys already loaded instead of parsing them again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keyloft.domain.signing import SigningKey
from keyloft.services.keys import ServerKeys, add_signing_key, load_key_ring
from keyloft.storage.store import Database
from tests.support.api import SERVER_SECRET


async def test_known_keys_are_reused_and_new_ones_loaded(
    database: Database, signing_key: SigningKey
) -> None:
    keys = ServerKeys.derive(SERVER_SECRET)
    async with database.unit_of_work(write=False) as store:
        first = await load_key_ring(store, keys)
    now = datetime.now(UTC)
    async with database.unit_of_work(write=True) as store:
        pending = await add_signing_key(store, keys, now, activates_at=now + timedelta(hours=1))
    async with database.unit_of_work(write=False) as store:
        reloaded = await load_key_ring(store, keys, known=first)
        cold = await load_key_ring(store, keys)
    by_kid = {key.kid: key for key in reloaded.keys}
    assert set(by_kid) == {signing_key.kid, pending.kid}
    assert by_kid[signing_key.kid].private_key is first.keys[0].private_key  # not parsed again
    assert {key.kid: key.private_key for key in cold.keys}[signing_key.kid] is not (
        first.keys[0].private_key
    )
    assert by_kid[pending.kid].activates_at is not None
    assert reloaded.active.kid == signing_key.kid  # the new key does not sign before its time

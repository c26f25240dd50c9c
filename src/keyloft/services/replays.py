"""Single use across nodes through the store, for nodes that share no Redis: each first use
is one committed insert of the assertion's digest, kept until it expires."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from keyloft.services.ports import Store


class StoreReplays:
    """Implements ``keyloft.services.ports.ReplayGuard`` over units of work of the store."""

    def __init__(self, transaction: Callable[..., AbstractAsyncContextManager[Store]]) -> None:
        self._transaction = transaction

    async def first_use(self, key: str, expires_at: datetime) -> bool:
        async with self._transaction(write=True) as store:
            return await store.used_assertions.claim(key, expires_at)

    async def purge(self, now: datetime) -> int:
        async with self._transaction(write=True) as store:
            return await store.used_assertions.purge(now)

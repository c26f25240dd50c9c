"""Everything a node keeps copies of, as one subscriber of the invalidation bus.

The client cache and the revoked-token list follow each committed change; the failed-attempt
guard's copy of blocked subjects (with Redis) follows the marks announced on the bus. When the
bus stops vouching for them they are distrusted at once (answers come from the store, and the
guard asks Redis); when it is back, the node refreshes from the store first and only then
trusts its copies again. Where no bus
exists but changes can be noticed (``stale``, from a SQLite worker's data-version watch), the
client cache is dropped at once and the revoked list is reloaded before it is trusted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from keyloft.cache.client_state import ClientStateCache
from keyloft.cache.ratelimit import RedisLimiter
from keyloft.cache.revocations import RevokedTokens
from keyloft.services.ports import Changes

log = logging.getLogger("keyloft.node")
RELOAD_RETRY_SECONDS = 1.0


class NodeCopies:
    def __init__(
        self,
        cache: ClientStateCache,
        revoked: RevokedTokens,
        *,
        refresh: Callable[[], Awaitable[None]],
        may_cache: bool = True,
        limiter: RedisLimiter | None = None,
    ) -> None:
        """``refresh`` reloads revocations and signing keys from the store; ``may_cache`` is
        False where no bus can tell this process about other processes' changes."""
        self.cache = cache
        self.revoked = revoked
        self.limiter = limiter
        self._refresh = refresh
        self._may_cache = may_cache
        self._pending: set[asyncio.Task[None]] = set()
        self._stale = False
        self._reloading: asyncio.Task[None] | None = None

    def apply(self, changes: Changes) -> None:
        self.cache.apply(changes)
        for jti, expires in changes.revoked.items():
            self.revoked.add(jti, expires)
        if changes.keys:
            self._schedule(trust_after=None)
        if changes.blocked and self.limiter is not None:
            self.limiter.block(changes.blocked)

    def trusted(self, trusted: bool) -> None:
        if self.limiter is not None:
            self.limiter.trusted(trusted)
        self.cache.trusted(trusted and self._may_cache)
        self.revoked.enabled = False
        if trusted:
            self._schedule(trust_after=self._may_cache)

    async def refresh(self, *, trust: bool | None = None) -> None:
        await self._refresh()
        if trust is not None:
            self.revoked.enabled = trust

    def stale(self) -> None:
        """Something was committed that no bus announced: drop the client cache now, and ask
        the store about revocations until a reload begun after this call has finished."""
        self.cache.clear()
        self.revoked.enabled = False
        self._stale = True
        if self._reloading is None:
            self._reloading = asyncio.get_running_loop().create_task(self._reload())
            self._pending.add(self._reloading)
            self._reloading.add_done_callback(self._pending.discard)

    async def _reload(self) -> None:
        try:
            while self._stale:
                self._stale = False
                try:
                    await self._refresh()
                except Exception as exc:  # the store may be away: try again shortly
                    log.warning("reload after a change failed: %s", type(exc).__name__)
                    self._stale = True
                    await asyncio.sleep(RELOAD_RETRY_SECONDS)
            self.revoked.enabled = self._may_cache
        finally:
            self._reloading = None

    async def close(self) -> None:
        """Stop a reload still waiting for the store (shutdown)."""
        if self.limiter is not None:
            await self.limiter.close()
        if self._reloading is not None:
            self._reloading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reloading

    def _schedule(self, *, trust_after: bool | None) -> None:
        task = asyncio.get_running_loop().create_task(self._run(trust_after))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _run(self, trust_after: bool | None) -> None:
        try:
            await self.refresh(trust=trust_after)
        except Exception as exc:  # the store may be down too; the periodic refresh retries
            log.warning("refresh from the store failed: %s", type(exc).__name__)

    async def settle(self) -> None:
        """Wait for scheduled refreshes (tests and shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

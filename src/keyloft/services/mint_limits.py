"""Mint limits (``tokenRateLimit``, docs/governance.md): each client's tokens counted per
minute of the wall clock through a ``MintCounter`` (Redis, shared by every node; or per
node), a refusal with the seconds until the minute ends once a client is beyond its limit, and
which clients went beyond it, to the minute, kept in memory and written in batches."""

from __future__ import annotations

import math
from datetime import datetime

from keyloft.domain.clients import Client
from keyloft.domain.errors import MintLimitReached
from keyloft.services.ports import MintCounter
from keyloft.services.usage import to_minute

WINDOW = 60
"""Seconds in a window: a fixed minute of the wall clock, the same on every node."""


class MintLimits:
    """A node's mint limiter and its not yet written limit hits."""

    def __init__(self, counter: MintCounter) -> None:
        self._counter = counter
        self._hits: dict[int, datetime] = {}

    async def take(self, client: Client, now: datetime) -> None:
        """Count one token of ``client``; ``MintLimitReached`` when that is beyond its limit."""
        limit = client.governance.tokens_per_minute
        if limit is None:
            return
        moment = now.timestamp()
        window = int(moment // WINDOW)
        if await self._counter.count(client.client_key, window) <= limit:
            return
        self.note_hit(client.id, now)
        raise MintLimitReached(retry_after=max(1, math.ceil((window + 1) * WINDOW - moment)))

    def note_hit(self, client_id: int, at: datetime) -> None:
        minute = to_minute(at)
        known = self._hits.get(client_id)
        if known is None or known < minute:
            self._hits[client_id] = minute

    def take_hits(self) -> dict[int, datetime]:
        """The hits noted so far, forgotten here: the caller writes them, or gives them back."""
        batch, self._hits = self._hits, {}
        return batch

    def give_back(self, batch: dict[int, datetime]) -> None:
        for client_id, at in batch.items():
            self.note_hit(client_id, at)

"""When each client was last used (a token minted for it), to the minute.

Minting must not write to the database, so uses are noted in memory and written in batches:
one statement per client used since the last flush, whatever the number of tokens. The node
also remembers the latest use it noted per client after writing it (a bounded number of
clients), so a client read from the node's cache never shows an older use than the node made.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

REMEMBERED = 100_000


def to_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


class UsageLog:
    """A node's uses not yet written; the latest minute per client."""

    def __init__(self, *, remembered: int = REMEMBERED) -> None:
        self._pending: dict[int, datetime] = {}
        self._latest: OrderedDict[int, datetime] = OrderedDict()
        self._remembered = remembered

    def note(self, client_id: int, at: datetime) -> None:
        minute = to_minute(at)
        known = self._pending.get(client_id)
        if known is None or known < minute:
            self._pending[client_id] = minute
            latest = self._latest.get(client_id)
            if latest is None or latest < minute:
                self._latest[client_id] = minute
                self._latest.move_to_end(client_id)
                if len(self._latest) > self._remembered:
                    self._latest.popitem(last=False)

    def pending(self, client_id: int) -> datetime | None:
        return self._pending.get(client_id)

    def latest(self, client_id: int) -> datetime | None:
        """The latest use this node noted, written or not (unless long forgotten)."""
        return self._latest.get(client_id)

    def __len__(self) -> int:
        return len(self._pending)

    def take(self) -> dict[int, datetime]:
        """Everything noted so far, forgotten here: the caller writes it, or gives it back."""
        batch, self._pending = self._pending, {}
        return batch

    def give_back(self, batch: dict[int, datetime]) -> None:
        """A batch whose write failed, kept for the next flush (later uses win)."""
        for client_id, minute in batch.items():
            self.note(client_id, minute)

"""A node's usage counts not yet written: tokens issued, authentication failures by reason
and decisions allowed and denied, per client and UTC hour.

Counting is a dictionary increment on the request's path; the node writes what it holds in
one batch at each usage flush, with ``lastUsedOn`` (``Runtime.flush_usage``), adding to the
stored counts. Between two flushes the map holds at most ``limit`` counters (a counter is
one client, hour, metric and reason); a count for a new counter beyond that is dropped and
itself counted (``dropped``), which the flush logs, so memory never grows with the number
of clients. Counters of clients already held keep counting.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from keyloft.domain.errors import InvalidClientCredentials, TooManyAttempts
from keyloft.domain.oauth import InvalidClient, InvalidDpopProof, InvalidScope
from keyloft.services.ports import UsageKey

LIMIT = 100_000
SECONDS_PER_HOUR = 3600

# (org id, client id, UTC hour as hours since the epoch, metric, reason)
Counter = tuple[int, int, int, str, str]


class UsageCounts:
    """Counts per client, hour, metric and reason, since the last ``take``."""

    __slots__ = ("_counts", "_limit", "dropped")

    def __init__(self, *, limit: int = LIMIT) -> None:
        self._counts: dict[Counter, int] = {}
        self._limit = limit
        self.dropped = 0

    def add(self, org_id: int, client_id: int, at: datetime, metric: str, reason: str = "") -> None:
        key = (org_id, client_id, int(at.timestamp()) // SECONDS_PER_HOUR, metric, reason)
        counts = self._counts
        held = counts.get(key)
        if held is not None:
            counts[key] = held + 1
        elif len(counts) < self._limit:
            counts[key] = 1
        else:
            self.dropped += 1

    def __len__(self) -> int:
        return len(self._counts)

    def take(self) -> tuple[dict[Counter, int], int]:
        """Everything counted so far and how many counts were dropped, forgotten here: the
        caller writes it, or gives it back."""
        batch, self._counts = self._counts, {}
        dropped, self.dropped = self.dropped, 0
        return batch, dropped

    def give_back(self, batch: dict[Counter, int]) -> None:
        """A batch whose write failed, kept for the next flush (within the limit)."""
        counts = self._counts
        for key, count in batch.items():
            if key in counts or len(counts) < self._limit:
                counts[key] = counts.get(key, 0) + count
            else:
                self.dropped += count


def stored_counts(batch: dict[Counter, int]) -> dict[UsageKey, int]:
    """``batch`` keyed as the store takes it: the hour as a UTC datetime."""
    return {
        (org_id, client_id, hour_start(hour), metric, reason): count
        for (org_id, client_id, hour, metric, reason), count in batch.items()
    }


def hour_start(hour: int) -> datetime:
    """The UTC hour numbered ``hour`` (hours since the epoch)."""
    return datetime.fromtimestamp(hour * SECONDS_PER_HOUR, UTC)


def failed_client(failed: BaseException) -> tuple[int, int] | None:
    """The org and id of the existing client a failed authentication named, if any: noted on
    the failure (or on the one it was translated from)."""
    seen: BaseException | None = failed
    while seen is not None:
        known = getattr(seen, "counted_as", None)
        if known is not None:
            return cast(tuple[int, int], known)
        seen = seen.__context__
    return None


def failure_reason(failed: BaseException) -> str:
    """The word a failed token request is counted under, as ``keyloft_tokens_refused_total``
    names it: the failure's own reason when it has one (a refused assertion or DPoP proof),
    else its kind."""
    if isinstance(failed, TooManyAttempts):
        return "rate_limited"
    if isinstance(failed, InvalidScope):
        return "invalid_scope"
    reason = getattr(failed, "reason", None)
    if isinstance(reason, str) and reason:
        return reason[:32]
    if isinstance(failed, InvalidDpopProof):
        return "invalid_dpop_proof"
    if isinstance(failed, InvalidClientCredentials | InvalidClient):
        return "invalid_client"
    return "invalid_request"

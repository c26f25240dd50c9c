"""Usage counts per client and hour: what is counted (the metrics), the reasons a failed
authentication is counted under, and the rules of a usage query (interval, range, buckets).

Hours are UTC hours; a day is a calendar day in the org's time zone, made of the UTC hours
that start in it (so a zone with a half-hour offset puts each hour in the day it starts in).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.timefmt import zone

TOKENS: Final = "tokens"
AUTH_FAILURES: Final = "auth_failures"
ALLOWED: Final = "allowed"
DENIED: Final = "denied"
METRICS: Final = (TOKENS, AUTH_FAILURES, ALLOWED, DENIED)

HOUR: Final = "hour"
DAY: Final = "day"
INTERVALS: Final = (HOUR, DAY)
MAX_RANGE: Final = {HOUR: timedelta(days=31), DAY: timedelta(days=400)}
DEFAULT_RANGE: Final = {HOUR: timedelta(days=7), DAY: timedelta(days=90)}
ONE_HOUR: Final = timedelta(hours=1)
EARLIEST: Final = date(1971, 1, 1)
LATEST: Final = date(9998, 12, 31)

_YEAR = "(?:197[1-9]|19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
_LEAP_YEAR = (
    "(?:19(?:7[26]|8[048]|9[26])|[2-9][0-9](?:0[48]|[2468][048]|[13579][26])"
    "|(?:[2468][048]|[3579][26])00)"
)
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,6})?)?"
_OFFSET = "(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])"
MOMENT_PATTERN: Final = f"^{_DATE}(?:T{_TIME}{_OFFSET}?)?$"
"""Exactly the moments a usage query accepts (JSON Schema / ECMA 262 and Python ``re.search``):
an ISO 8601 calendar date ``YYYY-MM-DD`` of a year from 1971 to 9998, optionally followed by
``T``, ``hh:mm``, ``:ss`` and up to 6 decimals, and an offset (``Z``, ``+hh:mm`` or ``+hhmm``).
A date, or a time without an offset, is read in the org's time zone."""


def hour_of(moment: datetime) -> datetime:
    """The UTC hour ``moment`` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One stored count: of ``metric`` (and ``reason``, for failures; else ``""``) for one
    client (or summed over an org's clients) in the UTC hour starting at ``hour``."""

    hour: datetime
    metric: str
    reason: str
    count: int


@dataclass(slots=True)
class Bucket:
    """The counts of one hour or day."""

    start: datetime
    tokens: int = 0
    auth_failures: dict[str, int] = field(default_factory=dict)
    allowed: int = 0
    denied: int = 0

    @property
    def failures(self) -> int:
        return sum(self.auth_failures.values())

    def add(self, metric: str, reason: str, count: int) -> None:
        if metric == TOKENS:
            self.tokens += count
        elif metric == AUTH_FAILURES:
            self.auth_failures[reason] = self.auth_failures.get(reason, 0) + count
        elif metric == ALLOWED:
            self.allowed += count
        elif metric == DENIED:
            self.denied += count


@dataclass(frozen=True, slots=True)
class UsageRange:
    """A query's buckets: ``start`` (inclusive) to ``end`` (exclusive), both on a bucket's
    edge, by ``interval`` in ``timezone`` (which only days depend on)."""

    start: datetime
    end: datetime
    interval: str
    timezone: str

    def starts(self) -> list[datetime]:
        """Every bucket's start, in order (UTC instants)."""
        found: list[datetime] = []
        if self.interval == HOUR:
            moment = self.start
            while moment < self.end:
                found.append(moment)
                moment += ONE_HOUR
            return found
        tz = zone(self.timezone)
        day = self.start.astimezone(tz).date()
        while (start := _midnight(day, self.timezone)) < self.end:
            found.append(start)
            day += timedelta(days=1)
        return found

    def bucket_of(self, hour: datetime) -> datetime:
        """The start of the bucket the UTC ``hour`` belongs to."""
        if self.interval == HOUR:
            return hour
        return _midnight(hour.astimezone(zone(self.timezone)).date(), self.timezone)

    def buckets(self, rows: list[UsageRow]) -> list[Bucket]:
        """The counts of ``rows`` in every bucket of the range (empty buckets included)."""
        found = {start: Bucket(start) for start in self.starts()}
        for row in rows:
            bucket = found.get(self.bucket_of(row.hour))
            if bucket is not None:
                bucket.add(row.metric, row.reason, row.count)
        return list(found.values())


def _midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone(timezone)).astimezone(UTC)


def parse_moment(text: str, field_name: str, timezone: str) -> datetime:
    """An ISO 8601 date or date-time (the v3 API's ``2020-04-15T14:14:06.104+0530`` too); a
    date or a time without an offset is read in the org's ``timezone``. Exactly the values
    ``MOMENT_PATTERN`` matches are accepted; ``ValidationFailed`` names ``field_name`` else."""
    refused = ValidationFailed(
        f"{field_name} must be an ISO 8601 date or date-time of a year from {EARLIEST.year} to "
        f"{LATEST.year}, such as 2020-04-15 or 2020-04-15T14:14:06.104+0530.",
        field=field_name,
    )
    if re.search(MOMENT_PATTERN, text) is None or "\n" in text:
        raise refused
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise refused from None
    if not EARLIEST.year <= moment.year <= LATEST.year:
        raise refused
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(timezone))
    return moment.astimezone(UTC)


def usage_range(
    since: str | None,
    until: str | None,
    interval: str | None,
    *,
    timezone: str,
    now: datetime,
) -> UsageRange:
    """The range a query asks for: ``to`` defaults to now, ``from`` to 7 days (by hour) or
    90 days (by day) before it; both are widened to their buckets' edges. At most 31 days
    by hour and 400 days by day; ``ValidationFailed`` names the field at fault."""
    chosen = interval or HOUR
    if chosen not in INTERVALS:
        raise ValidationFailed("interval must be hour or day.", field="interval")
    end = parse_moment(until, "to", timezone) if until is not None else now
    start = (
        parse_moment(since, "from", timezone) if since is not None else end - DEFAULT_RANGE[chosen]
    )
    if start >= end:
        raise ValidationFailed("from must be before to.", field="from")
    if end - start > MAX_RANGE[chosen]:
        days = MAX_RANGE[chosen].days
        raise ValidationFailed(
            f"from and to may be at most {days} days apart by {chosen}.", field="from"
        )
    if chosen == HOUR:
        first = hour_of(start)
        last = hour_of(end)
        return UsageRange(first, last + ONE_HOUR if last < end else last, chosen, timezone)
    tz = zone(timezone)
    first_day = start.astimezone(tz).date()
    local_end = end.astimezone(tz)
    last_day = local_end.date()
    if local_end.replace(tzinfo=None) > datetime.combine(last_day, datetime.min.time()):
        last_day += timedelta(days=1)
    return UsageRange(
        _midnight(first_day, timezone), _midnight(last_day, timezone), chosen, timezone
    )

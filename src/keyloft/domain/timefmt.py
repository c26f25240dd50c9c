"""The v3 API's date format: ``2020-04-15T14:14:06.104+0530`` in the org's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from keyloft.domain.errors import ValidationFailed


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def check_timezone(name: str) -> str:
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"unknown time zone {name!r}.", field="timezone") from None
    return name


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)
_LAST_MICROSECOND = timedelta(hours=1, microseconds=-1)


@lru_cache(maxsize=8192)
def _hour_offset(timezone: str, hour: int) -> tuple[timedelta, str] | None:
    """The zone's UTC offset and its ``%z`` text throughout the ``hour``-th hour since the
    epoch, or None when the offset changes within it. No zone changes its offset twice in
    an hour, so the same offset at its first and last microsecond holds for all of it."""
    tz = zone(timezone)
    start = _EPOCH + hour * _HOUR
    first = start.astimezone(tz)
    offset = first.utcoffset()
    if offset is None or (start + _LAST_MICROSECOND).astimezone(tz).utcoffset() != offset:
        return None
    return offset, first.strftime("%z")


def _format_slowly(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(zone(timezone))
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + local.strftime("%z")
    )


def format_v3(moment: datetime, timezone: str) -> str:
    """``moment`` (naive means UTC) in ``timezone``, to the millisecond (truncated). The zone's
    offset is looked up once per hour of time, not converted per call: a client list formats
    a few hundred dates per answer."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    known = _hour_offset(timezone, (moment - _EPOCH) // _HOUR)
    if known is None:
        return _format_slowly(moment, timezone)
    offset, suffix = known
    local = moment + offset
    if local.year < 1000:  # strftime does not pad such years; keep its text exactly
        return _format_slowly(moment, timezone)
    return "%d-%02d-%02dT%02d:%02d:%02d.%03d%s" % (  # noqa: UP031 (the fastest here)
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
        local.microsecond // 1000,
        suffix,
    )

"""The rules of a usage query (``keyloft.domain.usage``): defaults, limits, bucket edges, and
days as the org's calendar days (a day of 23 or 25 hours across a clock change)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.usage import DAY, HOUR, TOKENS, UsageRow, parse_moment, usage_range

NOW = datetime(2026, 3, 31, 12, 34, 56, tzinfo=UTC)


def test_the_default_ranges_end_now_on_whole_buckets() -> None:
    hourly = usage_range(None, None, None, timezone="UTC", now=NOW)
    assert hourly.interval == HOUR
    assert hourly.start == datetime(2026, 3, 24, 12, tzinfo=UTC)
    assert hourly.end == datetime(2026, 3, 31, 13, tzinfo=UTC)
    assert len(hourly.starts()) == 7 * 24 + 1
    daily = usage_range(None, None, DAY, timezone="UTC", now=NOW)
    assert daily.start == datetime(2025, 12, 31, tzinfo=UTC)
    assert daily.end == datetime(2026, 4, 1, tzinfo=UTC)
    assert len(daily.starts()) == 91


def test_days_follow_the_orgs_clock_changes() -> None:
    # Berlin moved its clocks forward on 29 March 2026: that day has 23 hours.
    wanted = usage_range("2026-03-28", "2026-03-31", DAY, timezone="Europe/Berlin", now=NOW)
    starts = wanted.starts()
    assert starts == [
        datetime(2026, 3, 27, 23, tzinfo=UTC),
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    ]
    rows = [
        UsageRow(datetime(2026, 3, 28, 22, tzinfo=UTC), TOKENS, "", 1),  # 23:00 on the 28th
        UsageRow(datetime(2026, 3, 28, 23, tzinfo=UTC), TOKENS, "", 2),  # 00:00 on the 29th
        UsageRow(datetime(2026, 3, 29, 21, tzinfo=UTC), TOKENS, "", 4),  # 23:00 on the 29th
        UsageRow(datetime(2026, 3, 29, 22, tzinfo=UTC), TOKENS, "", 8),  # 00:00 on the 30th
    ]
    assert [bucket.tokens for bucket in wanted.buckets(rows)] == [1, 6, 8]


@pytest.mark.parametrize(
    ("since", "until", "interval", "field"),
    [
        (None, None, "minute", "interval"),
        ("soon", None, HOUR, "from"),
        (None, "2026-02-30", HOUR, "to"),
        ("2026-03-31T12:00Z", "2026-03-31T11:00Z", HOUR, "from"),
        ("2026-02-27T00:00Z", "2026-03-31T00:00Z", HOUR, "from"),
        ("2025-02-01", "2026-03-31", DAY, "from"),
        ("0001-01-01", None, DAY, "from"),
    ],
)
def test_bad_queries_name_their_field(
    since: str | None, until: str | None, interval: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        usage_range(since, until, interval, timezone="UTC", now=NOW)
    assert refused.value.field == field


def test_a_time_without_an_offset_is_the_orgs() -> None:
    assert parse_moment("2026-03-31T10:00", "from", "Asia/Kolkata") == datetime(
        2026, 3, 31, 4, 30, tzinfo=UTC
    )
    assert parse_moment("2026-03-31T10:00:00.000+0530", "from", "UTC") == datetime(
        2026, 3, 31, 4, 30, tzinfo=UTC
    )

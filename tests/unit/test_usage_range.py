"""The rules of a usage query (``keyloft.domain.usage``): defaults, limits, bucket edges, and
days as the org's calendar days (a day of 23 or 25 hours across a clock change)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.usage import (
    DAY,
    EARLIEST,
    HOUR,
    LATEST,
    MOMENT_PATTERN,
    TOKENS,
    UsageRow,
    parse_moment,
    usage_range,
)

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


ZONES = ("UTC", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/St_Johns")


@settings(max_examples=300)
@given(
    st.from_regex(MOMENT_PATTERN, fullmatch=True),
    st.sampled_from(ZONES),
    st.sampled_from((HOUR, DAY)),
)
def test_every_moment_the_schema_pattern_admits_is_accepted(
    text: str, timezone: str, interval: str
) -> None:
    moment = parse_moment(text, "to", timezone)
    # As `to` (from defaults to 7 or 90 days before), and as `from` a day before now: the
    # range's edges in the org's zone stay within what a datetime holds.
    assert usage_range(None, text, interval, timezone=timezone, now=NOW).end >= moment
    later = moment + timedelta(days=1)
    assert usage_range(text, None, interval, timezone=timezone, now=later).start <= moment


def test_the_pattern_admits_exactly_the_calendar_dates_of_the_accepted_years() -> None:
    years = [*range(1960, 2110), *range(9890, 10000), 2400, 2500, 3000, 4000, 9600]
    for year in years:
        for month in range(1, 13):
            for day in range(1, 32):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                try:
                    valid = EARLIEST <= date(year, month, day) <= LATEST
                except ValueError:
                    valid = False
                assert bool(re.search(MOMENT_PATTERN, text)) is valid, text


@pytest.mark.parametrize(
    "text",
    [
        "20260331",  # ISO 8601 basic forms, week dates: fromisoformat reads them, the API not
        "2026-W14-2",
        "2026-03-31 10:00",
        "2026-03-31T10",
        "2026-03-31T10:00:00.1234567",
        "2026-03-31T10:00z",
        "2026-03-31T24:00",
        "2026-03-31T10:00+24:00",
        " 2026-03-31",
        "1970-12-31",
        "9999-01-01",
        "2100-02-29",
        "2026-03-31T10:00\n\n",
    ],
)
def test_what_the_pattern_does_not_admit_is_refused(text: str) -> None:
    assert not re.search(MOMENT_PATTERN, text)
    with pytest.raises(ValidationFailed) as refused:
        parse_moment(text, "from", "UTC")
    assert refused.value.field == "from"


def test_the_extreme_moments_are_accepted() -> None:
    assert parse_moment("1971-01-01T00:00+23:59", "from", "UTC") == datetime(
        1970, 12, 31, 0, 1, tzinfo=UTC
    )
    wanted = usage_range(
        "9998-12-31T00:00-23:59",
        "9998-12-31T23:59:59.999999-23:59",
        DAY,
        timezone="Pacific/Kiritimati",
        now=NOW,
    )
    assert wanted.end > wanted.start

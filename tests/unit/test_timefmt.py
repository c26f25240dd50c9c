"""The v3 date format in an org's time zone, and time-zone validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.timefmt import check_timezone, format_v3

INSTANT = datetime(2020, 4, 15, 8, 44, 6, 104_999, tzinfo=UTC)


def test_documented_example() -> None:
    assert format_v3(INSTANT, "Asia/Kolkata") == "2020-04-15T14:14:06.104+0530"


def test_naive_datetimes_are_utc() -> None:
    assert format_v3(INSTANT.replace(tzinfo=None), "Asia/Kolkata") == (
        "2020-04-15T14:14:06.104+0530"
    )


@pytest.mark.parametrize(
    ("moment", "timezone", "expected"),
    [
        pytest.param(
            datetime(2024, 1, 15, 12, 0, 0, 5_000, tzinfo=UTC),
            "Europe/Berlin",
            "2024-01-15T13:00:00.005+0100",
            id="berlin-winter",
        ),
        pytest.param(
            datetime(2024, 7, 15, 12, 0, tzinfo=UTC),
            "Europe/Berlin",
            "2024-07-15T14:00:00.000+0200",
            id="berlin-summer",
        ),
        pytest.param(
            datetime(2024, 3, 31, 0, 59, 59, 999_000, tzinfo=UTC),
            "Europe/Berlin",
            "2024-03-31T01:59:59.999+0100",
            id="berlin-before-switch",
        ),
        pytest.param(
            datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
            "Europe/Berlin",
            "2024-03-31T03:00:00.000+0200",
            id="berlin-after-switch",
        ),
        pytest.param(
            datetime(2024, 11, 3, 5, 30, tzinfo=UTC),
            "America/New_York",
            "2024-11-03T01:30:00.000-0400",
            id="new-york-first-1-30",
        ),
        pytest.param(
            datetime(2024, 11, 3, 6, 30, tzinfo=UTC),
            "America/New_York",
            "2024-11-03T01:30:00.000-0500",
            id="new-york-second-1-30",
        ),
        pytest.param(
            datetime(2024, 1, 1, tzinfo=UTC), "UTC", "2024-01-01T00:00:00.000+0000", id="utc"
        ),
        pytest.param(
            datetime(2024, 1, 1, tzinfo=UTC),
            "Asia/Kathmandu",
            "2024-01-01T05:45:00.000+0545",
            id="kathmandu",
        ),
    ],
)
def test_zones_and_daylight_saving(moment: datetime, timezone: str, expected: str) -> None:
    assert format_v3(moment, timezone) == expected


@pytest.mark.parametrize("name", ["UTC", "Asia/Kolkata", "Europe/Berlin", "America/New_York"])
def test_known_zones_accepted(name: str) -> None:
    assert check_timezone(name) == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Mars/Olympus_Mons", id="unknown"),
        pytest.param("", id="empty"),
        pytest.param("../../etc/passwd", id="traversal"),
        pytest.param("/etc/localtime", id="absolute"),
        pytest.param("Asia/Kolkata ", id="trailing-space"),
        pytest.param("+05:30", id="offset"),
    ],
)
def test_unknown_zones_refused(name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_timezone(name)
    assert caught.value.field == "timezone"
    assert "unknown time zone" in caught.value.message


def _reference(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    millis = f"{local.microsecond // 1000:03d}"
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + millis + local.strftime("%z")


@pytest.mark.parametrize(
    ("timezone", "switch"),
    [
        pytest.param("Europe/Berlin", datetime(2024, 3, 31, 1, 0, tzinfo=UTC), id="berlin-spring"),
        pytest.param("Europe/Berlin", datetime(2024, 10, 27, 1, 0, tzinfo=UTC), id="berlin-fall"),
        pytest.param(
            "America/New_York", datetime(2024, 11, 3, 6, 0, tzinfo=UTC), id="new-york-fall"
        ),
        # Lord Howe Island moves by half an hour, at half past a UTC hour.
        pytest.param(
            "Australia/Lord_Howe", datetime(2024, 4, 6, 15, 0, tzinfo=UTC), id="lord-howe"
        ),
        pytest.param(
            "Australia/Lord_Howe", datetime(2024, 10, 5, 15, 30, tzinfo=UTC), id="lord-howe-2"
        ),
        pytest.param("Asia/Kolkata", datetime(1854, 6, 28, 0, 0, tzinfo=UTC), id="kolkata-lmt"),
    ],
)
def test_every_moment_around_a_change_matches_the_zone_rules(
    timezone: str, switch: datetime
) -> None:
    """Each second (plus some microseconds) for an hour and a half either side of a change."""
    for seconds in range(-5400, 5400, 7):
        moment = switch + timedelta(seconds=seconds, microseconds=(seconds * 7919) % 1_000_000)
        assert format_v3(moment, timezone) == _reference(moment, timezone), moment
    last = switch - timedelta(microseconds=1)
    assert format_v3(last, timezone) == _reference(last, timezone)
    assert format_v3(switch, timezone) == _reference(switch, timezone)


def test_berlin_switch_to_the_millisecond() -> None:
    before = datetime(2024, 10, 27, 0, 59, 59, 999_999, tzinfo=UTC)
    assert format_v3(before, "Europe/Berlin") == "2024-10-27T02:59:59.999+0200"
    assert format_v3(before + timedelta(microseconds=1), "Europe/Berlin") == (
        "2024-10-27T02:00:00.000+0100"
    )


def test_other_aware_zones_and_old_years_format_as_the_zone_rules_say() -> None:
    berlin = datetime(2024, 7, 1, 9, 30, 15, 250_000, tzinfo=ZoneInfo("Europe/Berlin"))
    assert format_v3(berlin, "Asia/Kolkata") == "2024-07-01T13:00:15.250+0530"
    fixed = datetime(2024, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=-3)))
    assert format_v3(fixed, "UTC") == "2024-07-01T12:30:00.000+0000"
    early = datetime(999, 6, 1, 12, 0, tzinfo=UTC)
    assert format_v3(early, "Asia/Kolkata") == _reference(early, "Asia/Kolkata")

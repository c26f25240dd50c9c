"""The v3 date format in an org's time zone, and time-zone validation."""

from __future__ import annotations

from datetime import UTC, datetime

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

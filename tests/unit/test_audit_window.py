"""The audit trail's ``from`` and ``to`` (``keyloft.services.audit.audit_window``): every RFC
3339 date-time is accepted, exactly ordered even beyond what a datetime holds, and clamped to
what the store can compare; anything else is refused naming its parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyloft.domain.errors import ValidationFailed
from keyloft.services.audit import audit_window

FIRST = datetime.min.replace(tzinfo=UTC)
LAST = datetime.max.replace(tzinfo=UTC)


def test_offsets_are_applied() -> None:
    since, until = audit_window("2020-04-15T14:14:06.104+05:30", "2020-04-15t10:00:00z")
    assert since == datetime(2020, 4, 15, 8, 44, 6, 104000, tzinfo=UTC)
    assert until == datetime(2020, 4, 15, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        # Before year 1 in UTC: keeps nothing out, so there is no lower bound.
        ("0001-01-01T00:00:00+23:59", None, (None, None)),
        ("0000-02-29T12:00:00Z", "0001-01-01T00:00:00.5Z", (None, FIRST + timedelta(0, 0, 500000))),
        # After 9999 in UTC: no upper bound; a lower bound there keeps everything out.
        (None, "9999-12-31T23:59:59.999999-23:59", (None, None)),
        ("9999-12-31T23:59:59-00:01", None, (LAST, None)),
        ("0000-01-01T00:00:00Z", "0000-01-01T00:00:01Z", (None, FIRST)),
        # A leap second is the last microsecond of the second before.
        (
            "2016-12-31T23:59:60Z",
            "2017-01-01T00:00:00.000001Z",
            (
                datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                datetime(2017, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
            ),
        ),
    ],
)
def test_extremes_are_accepted_and_clamped(
    since: str | None, until: str | None, expected: tuple[datetime | None, datetime | None]
) -> None:
    assert audit_window(since, until) == expected


def test_order_is_exact_even_beyond_what_a_datetime_holds() -> None:
    # Both before year 1 in UTC: a minute apart, in order, so accepted.
    assert audit_window("0001-01-01T00:00:00+23:59", "0001-01-01T00:00:00+23:58") == (
        None,
        FIRST,
    )
    with pytest.raises(ValidationFailed) as refused:
        audit_window("0001-01-01T00:00:00+23:58", "0001-01-01T00:00:00+23:59")
    assert refused.value.field == "from"


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        ("yesterday", None, "from"),
        ("2020-01-01", None, "from"),  # a date alone is not a date-time
        ("2020-01-01T00:00:00", None, "from"),  # an offset is required
        ("2020-01-01 00:00:00Z", None, "from"),
        ("2021-02-29T00:00:00Z", None, "from"),
        ("2020-01-01T24:00:00Z", None, "from"),
        ("2020-01-01T00:00:61Z", None, "from"),
        (None, "2020-01-01T00:00:00+24:00", "to"),
        (None, "2020-01-01T00:00:00+0530", "to"),
        (None, "1700000000", "to"),
        ("2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z", "from"),
        ("2020-01-01T05:30:00+05:30", "2020-01-01T00:00:00Z", "from"),
    ],
)
def test_anything_else_is_refused_naming_the_parameter(
    since: str | None, until: str | None, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        audit_window(since, until)
    assert refused.value.field == field


OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1)


@given(st.datetimes(), OFFSETS, st.integers(0, 6))
def test_every_rfc_3339_date_time_is_accepted(moment: datetime, minutes: int, digits: int) -> None:
    zone = timezone(timedelta(minutes=minutes))
    if digits == 0:
        moment = moment.replace(microsecond=0)
    text = moment.replace(tzinfo=zone).isoformat(
        timespec="seconds" if digits == 0 else "microseconds"
    )
    since, _ = audit_window(text, None)
    try:
        exact = moment.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:
        return  # beyond a datetime: clamped, as test_extremes_are_accepted_and_clamped shows
    assert since == (None if exact == FIRST else exact)

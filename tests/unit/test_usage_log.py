"""The node's log of client uses: to the minute, written in batches, and laid over clients
read from the node's copies — the same copy each time while nothing changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from keyloft.services.usage import UsageLog
from tests.support.client_states import state

AT = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
MINUTE = AT.replace(second=0, microsecond=0)


def test_a_use_is_noted_to_the_minute_and_taken_once() -> None:
    usage = UsageLog()
    usage.note(1, AT)
    usage.note(1, AT.replace(second=30))
    assert usage.pending(1) == MINUTE
    assert usage.take() == {1: MINUTE}
    assert usage.take() == {}
    assert usage.latest(1) == MINUTE  # remembered after it was taken for writing


def test_a_noted_use_is_laid_over_a_client_as_one_copy() -> None:
    usage = UsageLog()
    client = state(1).client
    assert usage.with_latest_use(client) is client  # no use noted
    usage.note(1, AT)
    used = usage.with_latest_use(client)
    assert used.last_used_on == MINUTE
    assert replace(used, last_used_on=None) == client
    assert usage.with_latest_use(client) is used  # the same copy while nothing changed

    reread = replace(client, name="read again")
    assert usage.with_latest_use(reread).name == "read again"
    usage.note(1, AT.replace(minute=9))
    assert usage.with_latest_use(reread).last_used_on == MINUTE.replace(minute=9)


def test_a_later_use_held_by_the_client_wins() -> None:
    usage = UsageLog()
    usage.note(1, AT)
    later = replace(state(1).client, last_used_on=MINUTE.replace(hour=9))
    assert usage.with_latest_use(later) is later


def test_forgotten_clients_leave_no_copies_behind() -> None:
    usage = UsageLog(remembered=2)
    for client_id in (1, 2, 3):
        usage.note(client_id, AT)
        usage.with_latest_use(state(client_id).client)
    assert usage.latest(1) is None
    assert usage.with_latest_use(state(1).client).last_used_on is None

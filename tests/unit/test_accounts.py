"""The rules of accounts and org limits: what a console session is tied to, the refusal to
delete a Till that clients act as, lowering a limit below use, and logins noted to the minute
for ``lastLoginOn``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyloft.domain.accounts import TillInUse, session_stamp
from keyloft.domain.errors import Conflict
from keyloft.domain.orgs import LimitBelowUse, Org, check_limits_cover_use
from keyloft.services.usage import UsageLog

ORG = Org(7, "Acme", "UTC", max_clients=5, max_token_ttl=3600)
AT = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
MINUTE = AT.replace(second=0, microsecond=0)


def test_a_session_stamp_moves_with_the_epoch_only() -> None:
    assert session_stamp("hash", 0) == "hash"  # sessions from before epochs stay valid
    stamps = {session_stamp("hash", epoch) for epoch in range(4)}
    assert len(stamps) == 4
    assert session_stamp("hash", 2) != session_stamp("hash2", 2)


def test_a_till_in_use_names_its_clients() -> None:
    refused = TillInUse("till.1", [("key1", "orders"), ("key2", "reports")])
    assert isinstance(refused, Conflict)
    assert "'till.1'" in refused.message
    assert "2 active API clients: orders (key1), reports (key2)" in refused.message
    assert "disable the Till instead" in refused.message
    assert refused.details == {
        "clients": [
            {"clientKey": "key1", "name": "orders"},
            {"clientKey": "key2", "name": "reports"},
        ]
    }
    assert (
        "1 active API client: orders (key1). Give it"
        in TillInUse("t", [("key1", "orders")]).message
    )


@pytest.mark.parametrize(
    ("max_clients", "max_ttl", "lifetimes"),
    [
        pytest.param(5, 3600, [7200] * 9, id="kept-limits-never-refused"),
        pytest.param(9, 7200, [7200] * 9, id="raised"),
        pytest.param(3, 600, [600, 60, 600], id="down-to-the-use"),
    ],
)
def test_limits_that_cover_the_use_pass(
    max_clients: int, max_ttl: int, lifetimes: list[int]
) -> None:
    check_limits_cover_use(ORG, max_clients, max_ttl, lifetimes)


def test_fewer_clients_than_are_active_is_refused_naming_the_count() -> None:
    with pytest.raises(LimitBelowUse) as refused:
        check_limits_cover_use(ORG, 2, 3600, [60, 60, 60])
    assert refused.value.message == (
        "Org 7 has 3 active API clients, more than the 2 maxClients allows."
    )
    assert refused.value.details == {"activeClients": 3}


def test_a_lifetime_cap_below_clients_lifetimes_is_refused_naming_them() -> None:
    with pytest.raises(LimitBelowUse) as refused:
        check_limits_cover_use(ORG, 5, 900, [3600, 60, 1200, 900])
    assert "2 active API clients with a token lifetime above the 900 s" in refused.value.message
    assert "(the longest: 3600 s)" in refused.value.message
    assert refused.value.details == {"clientsAboveMaxTokenTtl": 2, "longestTokenTtl": 3600}
    with pytest.raises(LimitBelowUse) as refused:
        check_limits_cover_use(ORG, 1, 30, [60, 60])
    assert set(refused.value.details) == {
        "activeClients",
        "clientsAboveMaxTokenTtl",
        "longestTokenTtl",
    }
    hinted = refused.value.with_hint("Use force.")
    assert hinted.message.endswith(". Use force.")
    assert hinted.details == refused.value.details


def test_logins_are_noted_to_the_minute_and_given_back_on_failure() -> None:
    usage = UsageLog()
    usage.note_login(3, AT)
    usage.note_login(3, AT - timedelta(minutes=5))  # never backward
    usage.note_login(4, AT + timedelta(minutes=1))
    batch = usage.take_logins()
    assert batch == {3: MINUTE, 4: MINUTE + timedelta(minutes=1)}
    assert usage.take_logins() == {}
    usage.note_login(3, AT + timedelta(minutes=2))
    usage.give_back({}, None, batch)
    assert usage.take_logins() == {3: MINUTE + timedelta(minutes=2), 4: batch[4]}
    assert usage.take() == {}  # logins are not client uses

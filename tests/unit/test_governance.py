"""Governance rules (domain/governance.py) and the per-node mint counter."""

from __future__ import annotations

import pytest

from keyloft.cache.mint_counter import MemoryMintCounter
from keyloft.domain.errors import ValidationFailed
from keyloft.domain.governance import Governance, check_allowlist, check_rate_limit


def test_allows_addresses_in_the_list_only() -> None:
    rules = Governance(check_allowlist(["192.0.2.0/24", "2001:db8::/32"]))
    assert rules.allows("192.0.2.200")
    assert rules.allows("::ffff:192.0.2.1")  # an IPv4 caller on a dual-stack socket
    assert rules.allows("2001:db8:ffff::1")
    assert not rules.allows("192.0.3.1")
    assert not rules.allows("2001:db9::1")
    assert not rules.allows(None)
    assert not rules.allows("unknown")


def test_no_list_allows_anything() -> None:
    assert Governance().allows(None)
    assert Governance().allows("203.0.113.9")


def test_a_list_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_allowlist("10.0.0.0/8")
    assert refused.value.field == "ipAllowlist"


@pytest.mark.parametrize("value", [{"perMinute": True}, {"perMinute": "5"}, {}, 5])
def test_a_rate_limit_must_be_a_whole_number(value: object) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_rate_limit(value)
    assert refused.value.field == "tokenRateLimit.perMinute"


def test_no_rate_limit() -> None:
    assert check_rate_limit(None) is None
    assert check_rate_limit({"perMinute": 7}) == 7


async def test_the_memory_counter_counts_per_client_and_minute() -> None:
    counter = MemoryMintCounter()
    assert [await counter.count("a", 100) for _ in range(3)] == [1, 2, 3]
    assert await counter.count("b", 100) == 1
    assert await counter.count("a", 101) == 1
    assert await counter.count("a", 101) == 2

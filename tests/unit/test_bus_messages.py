"""What the invalidation bus carries survives its wire text, and junk parts are ignored."""

from __future__ import annotations

from keyloft.cache.bus import decode, encode
from keyloft.services.ports import Changes


def test_every_kind_of_change_round_trips() -> None:
    sent = Changes(
        clients={3, 1},
        orgs={7},
        revoked={"abc-DEF_1": 1_900_000_000.4},
        keys=True,
        blocked={"0f" * 20: 1_900_000_100.2},
    )
    received = decode(encode(sent).encode())
    assert received.clients == {1, 3}
    assert received.orgs == {7}
    assert received.keys is True
    # A revocation is kept to the next second (never shorter); a block to the millisecond
    # below (never longer than the window its wait is counted in).
    assert received.revoked == {"abc-DEF_1": 1_900_000_001.0}
    assert received.blocked == {"0f" * 20: 1_900_000_100.2}


def test_parts_that_do_not_parse_are_dropped() -> None:
    received = decode("c1,bnot a digest:5,b" + "a" * 40 + ":soon,x9,r:,o2")
    assert received.clients == {1}
    assert received.orgs == {2}
    assert received.blocked == {}
    assert received.revoked == {}
    assert not Changes()
    assert Changes(blocked={"a" * 40: 1.0})

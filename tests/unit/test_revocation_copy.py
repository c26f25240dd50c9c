"""A node's copy of revoked tokens: a reload from the store never forgets a revocation the
node already learned from the bus (the store read may predate that revocation's commit)."""

from __future__ import annotations

from keyloft.cache.revocations import RevokedTokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reload_from_an_older_snapshot_keeps_a_revocation_from_the_bus() -> None:
    clock = Clock()
    copy = RevokedTokens(wall=clock)
    copy.enabled = True
    snapshot = [("old", 2000.0)]  # read from the store before "new" was committed
    copy.add("new", 2000.0)  # meanwhile the bus announced "new"
    copy.load(snapshot)  # the refresh finishes with its older snapshot
    assert copy.known_revoked("new") is True
    assert copy.known_revoked("old") is True
    assert copy.known_revoked("other") is False


def test_expired_revocations_are_dropped_on_reload_and_prune() -> None:
    clock = Clock()
    copy = RevokedTokens(wall=clock)
    copy.enabled = True
    copy.add("soon", 1500.0)
    copy.load([("later", 3000.0), ("gone", 900.0)])
    assert copy.known_revoked("gone") is False
    clock.now = 1600.0
    copy.load([("later", 3000.0)])
    assert len(copy) == 1
    assert copy.known_revoked("soon") is False
    assert copy.known_revoked("later") is True


def test_untrusted_copy_answers_nothing() -> None:
    copy = RevokedTokens()
    copy.add("x", 1e12)
    assert copy.known_revoked("x") is None

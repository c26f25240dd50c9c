"""Which key signs when, and how long each key stays published.

A key is pending until it starts, active while it is the newest started and unretired key,
superseded once a newer key has taken over, and retired from its ``retired_at``. A key that
stopped signing stays published long enough for every token it signed to expire. Everything
here is a pure function of the keys' moments and the moment asked about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

THIRTY_DAYS = 30 * 24 * 3600
"""The longest a token may live, in seconds, unless a deployment sets a shorter ceiling."""

PUBLISH_LEEWAY = 60.0
"""Seconds a key stays published beyond the longest token lifetime after it stopped signing."""


class KeyTimes(Protocol):
    """When a key signs: what the lifecycle needs of a key (loaded or only stored)."""

    @property
    def kid(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def starts(self) -> datetime: ...
    @property
    def retired_at(self) -> datetime | None: ...


KeyState = Literal["pending", "active", "superseded", "retired"]


@dataclass(frozen=True, slots=True)
class KeyPhase:
    """Where a key stands at one moment: whether it signs, and until when it is published
    (None: as long as it may still sign)."""

    state: KeyState
    published_until: datetime | None

    def published(self, now: datetime) -> bool:
        return self.published_until is None or now < self.published_until


def _retired(key: KeyTimes, now: datetime) -> bool:
    return key.retired_at is not None and key.retired_at <= now


def _signer(ordered: Sequence[KeyTimes], at: datetime) -> KeyTimes | None:
    """The newest started, unretired key: the one that signs at ``at``."""
    usable = [k for k in ordered if k.starts <= at and not _retired(k, at)]
    return usable[-1] if usable else None


def _stopped(key: KeyTimes, ordered: Sequence[KeyTimes], now: datetime) -> datetime | None:
    """When ``key`` last stopped signing (a newer key started, or it was retired); None if
    it never signed. A key resumes signing when every newer one is retired."""
    events = {k.starts for k in ordered if k.starts <= now}
    events |= {k.retired_at for k in ordered if k.retired_at and k.retired_at <= now}
    stopped, signing = None, False
    for moment in sorted(events):
        signs = _signer(ordered, moment) is key
        if signing and not signs:
            stopped = moment
        signing = signs
    return stopped


def _state(key: KeyTimes, signer: KeyTimes | None, now: datetime) -> KeyState:
    if _retired(key, now):
        return "retired"
    if key.starts > now:
        return "pending"
    return "active" if key is signer else "superseded"


def key_phases(keys: Iterable[KeyTimes], now: datetime, keep: timedelta) -> dict[str, KeyPhase]:
    """Each key's phase at ``now``, by kid. The newest started, unretired key signs; a key
    stays published while it may sign (from when it is added), and ``keep`` (the longest
    token lifetime plus leeway) after it last stopped; a key that never signed, no longer."""
    ordered = sorted(keys, key=lambda k: (k.starts, k.created_at))
    signer = _signer(ordered, now)
    phases: dict[str, KeyPhase] = {}
    for key in ordered:
        state = _state(key, signer, now)
        until: datetime | None = None
        if state in ("superseded", "retired"):
            stopped = _stopped(key, ordered, now)
            until = stopped + keep if stopped else key.retired_at or key.starts
        phases[key.kid] = KeyPhase(state, until)
    return phases


def next_change(
    keys: Sequence[KeyTimes], phases: Mapping[str, KeyPhase], now: datetime
) -> datetime | None:
    """The first moment after ``now`` when a key starts, is retired or stops being published:
    until then ``phases`` hold. None when nothing is due to change."""
    moments = [k.starts for k in keys if k.starts > now]
    moments += [k.retired_at for k in keys if k.retired_at and k.retired_at > now]
    moments += [
        until
        for phase in phases.values()
        if (until := phase.published_until) is not None and until > now
    ]
    return min(moments) if moments else None

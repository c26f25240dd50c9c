"""The audit repository: events read back as written, newest first, scoped to an org (or the
deployment, or everywhere), filtered by target, actor, action and time, and paged by id."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from keyloft.domain.actors import Principal
from keyloft.domain.audit import AuditEvent, RequestContext
from keyloft.services.ports import AuditQuery
from keyloft.storage.store import Database
from tests.support.seeds import NOW, Seeded, seed

OPERATOR = "ops@host-1"


def _event(
    org_id: int | None,
    *,
    actor: Principal | None = None,
    at: datetime = NOW,
    action: str = "client.update",
    target: str = "client-key-1",
    changes: dict[str, Any] | None = None,
    context: RequestContext | None = None,
) -> AuditEvent:
    return AuditEvent(
        org_id=org_id,
        at=at,
        actor=actor,
        operator=None if actor is not None else OPERATOR,
        action=action,
        target_type="client",
        target=target,
        changes=changes if changes is not None else {"name": ["old", "new"]},
        context=context or RequestContext("req-1", "10.0.0.1"),
    )


async def _add(database: Database, *events: AuditEvent) -> None:
    async with database.unit_of_work(write=True) as store:
        for event in events:
            await store.audit.add(event)


async def _find(database: Database, query: AuditQuery) -> list[AuditEvent]:
    async with database.unit_of_work(write=False) as store:
        return await store.audit.find(query)


def _same(found: AuditEvent, given: AuditEvent) -> bool:
    """Equal but for the id the store gave it."""
    return replace(found, id=0) == given


async def test_an_event_by_a_principal_reads_back(database: Database) -> None:
    seeded = await seed(database)
    given = _event(seeded.org.id, actor=seeded.admin)
    await _add(database, given)
    (found,) = await _find(database, AuditQuery(seeded.org.id))
    assert _same(found, given)
    assert found.id > 0
    assert (found.actor, found.operator) == (seeded.admin, None)
    assert found.at.utcoffset() == timedelta(0)


async def test_an_operators_deployment_wide_event_reads_back(database: Database) -> None:
    given = replace(_event(None), target_type="signing_key", action="signing_key.rotate")
    await _add(database, given)
    (found,) = await _find(database, AuditQuery(None))
    assert _same(found, given)
    assert (found.org_id, found.actor, found.operator) == (None, None, OPERATOR)


CHANGES: dict[str, dict[str, Any]] = {
    "none": {},
    "one-field": {"name": ["before", "after"]},
    "created": {"name": [None, "orders"], "scopes": [None, [{"entityId": 1, "resources": []}]]},
    "unicode": {"description": ["Ünïcödé", "説明 — done"]},
    "scalars": {"ttl": [600, 60], "valid": [True, False], "grace": [None, 3.5]},
    "dotted-keys": {"scopes.1.permission": ["READ", "READWRITE"]},
    "long": {"resources": [[f"/r{n}" for n in range(100)], []]},
}


@pytest.mark.parametrize("changes", CHANGES.values(), ids=CHANGES.keys())
async def test_changes_read_back_exactly(database: Database, changes: dict[str, Any]) -> None:
    seeded = await seed(database)
    await _add(database, _event(seeded.org.id, actor=seeded.admin, changes=changes))
    (found,) = await _find(database, AuditQuery(seeded.org.id))
    assert found.changes == changes


@pytest.mark.parametrize(
    "context",
    [
        RequestContext(),
        RequestContext("req-1", "10.0.0.1"),
        RequestContext("r" * 64, "2001:db8:85a3::8a2e:370:7334"),
    ],
    ids=["unknown", "ipv4", "ipv6"],
)
async def test_where_a_change_came_from_reads_back(
    database: Database, context: RequestContext
) -> None:
    seeded = await seed(database)
    await _add(database, _event(seeded.org.id, actor=seeded.admin, context=context))
    (found,) = await _find(database, AuditQuery(seeded.org.id))
    assert found.context == context


async def _timeline(database: Database, seeded: Seeded, count: int = 5) -> list[AuditEvent]:
    """``count`` events a minute apart, added oldest first; returned newest first."""
    await _add(
        database,
        *(
            _event(seeded.org.id, actor=seeded.admin, at=NOW + timedelta(minutes=n), target=f"t{n}")
            for n in range(count)
        ),
    )
    return await _find(database, AuditQuery(seeded.org.id))


async def test_events_come_newest_first(database: Database) -> None:
    seeded = await seed(database)
    found = await _timeline(database, seeded)
    assert [event.target for event in found] == ["t4", "t3", "t2", "t1", "t0"]
    assert [event.id for event in found] == sorted((event.id for event in found), reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 5])
async def test_a_limit_keeps_the_newest(database: Database, limit: int) -> None:
    seeded = await seed(database)
    everything = await _timeline(database, seeded)
    assert await _find(database, AuditQuery(seeded.org.id, limit=limit)) == everything[:limit]


@pytest.mark.parametrize("size", [1, 2, 3, 4])
async def test_pages_by_id_walk_every_event_once(database: Database, size: int) -> None:
    seeded = await seed(database)
    everything = await _timeline(database, seeded)
    walked: list[AuditEvent] = []
    before: int | None = None
    for _ in range(10):
        page = await _find(database, AuditQuery(seeded.org.id, before_id=before, limit=size))
        walked += page
        if len(page) < size:
            break
        before = page[-1].id
    assert walked == everything


SCOPES = {
    "one-org": ("acme", False, {"acme"}),
    "other-org": ("globex", False, {"globex"}),
    "deployment": (None, False, {"deployment"}),
    "everywhere": (None, True, {"acme", "globex", "deployment"}),
}


@pytest.mark.parametrize(("org", "everywhere", "seen"), SCOPES.values(), ids=SCOPES.keys())
async def test_a_search_sees_its_scope_only(
    database: Database, org: str | None, everywhere: bool, seen: set[str]
) -> None:
    acme = await seed(database, "Acme")
    globex = await seed(database, "Globex")
    await _add(
        database,
        _event(acme.org.id, actor=acme.admin, target="acme"),
        _event(globex.org.id, actor=globex.admin, target="globex"),
        _event(None, target="deployment"),
    )
    org_id = {"acme": acme.org.id, "globex": globex.org.id, None: None}[org]
    found = await _find(database, AuditQuery(org_id, everywhere=everywhere))
    assert {event.target for event in found} == seen


FILTERS: dict[str, tuple[dict[str, str], list[str]]] = {
    "target": ({"target": "key-b"}, ["b-by-till", "b-by-admin"]),
    "action": ({"action": "client.delete"}, ["a-deleted"]),
    "actor-code": ({"actor_code": "acme.till.1"}, ["b-by-till"]),
    "operator-name": ({"actor_code": OPERATOR}, ["by-operator"]),
    "target-and-actor": ({"target": "key-b", "actor_code": "acme-admin"}, ["b-by-admin"]),
    "unknown-actor": ({"actor_code": "nobody"}, []),
    "target-other-case": ({"target": "KEY-B"}, []),
}


@pytest.mark.parametrize(("asked", "expected"), FILTERS.values(), ids=FILTERS.keys())
async def test_filters_match_exactly(
    database: Database, asked: dict[str, str], expected: list[str]
) -> None:
    seeded = await seed(database)
    org = seeded.org.id

    def made(label: str, **fields: Any) -> AuditEvent:
        return _event(org, changes={"label": [None, label]}, **fields)

    await _add(
        database,
        made("a-deleted", actor=seeded.admin, target="key-a", action="client.delete"),
        made("b-by-admin", actor=seeded.admin, target="key-b"),
        made("b-by-till", actor=seeded.till, target="key-b"),
        made("by-operator", target="key-c", action="client.create"),
    )
    found = await _find(database, AuditQuery(org, **asked))  # type: ignore[arg-type]
    assert [event.changes["label"][1] for event in found] == expected


@pytest.mark.parametrize("field", ["target", "actor_code", "action"])
async def test_a_filter_the_store_cannot_hold_finds_nothing(database: Database, field: str) -> None:
    seeded = await seed(database)
    await _add(database, _event(seeded.org.id, actor=seeded.admin))
    assert await _find(database, AuditQuery(seeded.org.id, **{field: "client\x00"})) == []  # type: ignore[arg-type]
    assert len(await _find(database, AuditQuery(seeded.org.id))) == 1


WINDOWS = {
    "since-is-inclusive": ({"since": NOW + timedelta(minutes=2)}, ["t4", "t3", "t2"]),
    "since-a-microsecond-later": (
        {"since": NOW + timedelta(minutes=2, microseconds=1)},
        ["t4", "t3"],
    ),
    "until-is-exclusive": ({"until": NOW + timedelta(minutes=2)}, ["t1", "t0"]),
    "until-a-microsecond-later": (
        {"until": NOW + timedelta(minutes=2, microseconds=1)},
        ["t2", "t1", "t0"],
    ),
    "window": (
        {"since": NOW + timedelta(minutes=1), "until": NOW + timedelta(minutes=3)},
        ["t2", "t1"],
    ),
    "empty-window": (
        {"since": NOW + timedelta(minutes=3), "until": NOW + timedelta(minutes=3)},
        [],
    ),
    "since-in-an-offset": (
        {"since": (NOW + timedelta(minutes=3)).astimezone(timezone(timedelta(hours=9)))},
        ["t4", "t3"],
    ),
    "until-in-an-offset": (
        {"until": (NOW + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=-9)))},
        ["t0"],
    ),
}


@pytest.mark.parametrize(("window", "expected"), WINDOWS.values(), ids=WINDOWS.keys())
async def test_a_time_window_holds_events_from_since_up_to_until(
    database: Database, window: dict[str, datetime], expected: list[str]
) -> None:
    seeded = await seed(database)
    await _timeline(database, seeded)
    found = await _find(database, AuditQuery(seeded.org.id, **window))  # type: ignore[arg-type]
    assert [event.target for event in found] == expected

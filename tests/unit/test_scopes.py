"""The access decision ``keyloft.domain.scopes.decide`` and grant coverage, as tables."""

from __future__ import annotations

import pytest

from keyloft.domain.scopes import (
    DEFAULT_ENTITIES,
    Grant,
    Permission,
    ScopeEntity,
    decide,
    entity_for_path,
    grant_covers,
    grants_cover,
    intersect,
    normalise_path,
)

READ, WRITE, RW = Permission.READ, Permission.WRITE, Permission.READWRITE
TG = 1  # TargetGroups: .*v3/targetGroups.*
ALL = 2  # fallback
TX = 3  # Transaction: .*v1\.1/transaction.*
EVERYTHING = (Grant(TG, RW), Grant(ALL, RW), Grant(TX, RW))


def test_default_entities_are_the_documented_three() -> None:
    assert [(e.id, e.name, e.area_pattern) for e in DEFAULT_ENTITIES] == [
        (1, "TargetGroups", r".*v3/targetGroups.*"),
        (2, "All", None),
        (3, "Transaction", r".*v1\.1/transaction.*"),
    ]


# (grants, method, path, allowed, reason, entity)
DECISIONS = [
    pytest.param((Grant(TG, READ),), "GET", "/v3/targetGroups", True, "allowed", TG, id="tg-read"),
    pytest.param(
        (Grant(TG, READ),), "GET", "/api/v3/targetGroups/7", True, "allowed", TG, id="tg-prefix"
    ),
    pytest.param(
        (Grant(ALL, RW),), "GET", "/v3/targetGroups/7", False, "no_grant", TG, id="all-not-tg"
    ),
    pytest.param((Grant(ALL, READ),), "GET", "/v3/customers", True, "allowed", ALL, id="all"),
    pytest.param(
        (Grant(TG, RW), Grant(TX, RW)),
        "GET",
        "/v3/customers",
        False,
        "no_grant",
        ALL,
        id="other-path-needs-all",
    ),
    pytest.param(
        (Grant(TX, WRITE),), "POST", "/v1.1/transaction/add", True, "allowed", TX, id="tx"
    ),
    pytest.param(
        (Grant(TX, RW),), "POST", "/v1x1/transaction", False, "no_grant", ALL, id="tx-dot-literal"
    ),
    pytest.param(
        (Grant(ALL, RW),), "POST", "/v1x1/transaction", True, "allowed", ALL, id="tx-dot-is-all"
    ),
    pytest.param(
        (Grant(TX, RW),),
        "GET",
        "/v3/targetGroups/v1.1/transaction",
        False,
        "no_grant",
        TG,
        id="first-entity-wins",
    ),
    pytest.param(
        (Grant(TG, RW),),
        "GET",
        "/v3/targetGroups/v1.1/transaction",
        True,
        "allowed",
        TG,
        id="first-entity-wins-allowed",
    ),
    pytest.param(
        (Grant(99, RW),), "GET", "/v3/customers", False, "no_grant", ALL, id="unknown-entity"
    ),
    pytest.param((), "GET", "/v3/customers", False, "no_grant", ALL, id="no-grants"),
    # Resources: full match on the path without the query string.
    pytest.param(
        (Grant(TG, RW, (r"/v3/targetGroups/\d+",)),),
        "GET",
        "/v3/targetGroups/12",
        True,
        "allowed",
        TG,
        id="resource-match",
    ),
    pytest.param(
        (Grant(TG, RW, (r"/v3/targetGroups/\d+",)),),
        "GET",
        "/v3/targetGroups/12/members",
        False,
        "resource",
        TG,
        id="resource-no-suffix",
    ),
    pytest.param(
        (Grant(TG, RW, (r"/v3/targetGroups/\d+",)),),
        "GET",
        "/x/v3/targetGroups/12",
        False,
        "resource",
        TG,
        id="resource-no-prefix",
    ),
    pytest.param(
        (Grant(TG, RW, (r"/v3/targetGroups/\d+",)),),
        "GET",
        "/v3/targetGroups/12?expand=members&x=/v3/other",
        True,
        "allowed",
        TG,
        id="resource-query-ignored",
    ),
    pytest.param(
        (Grant(ALL, READ, (r"/v3/customers\?id=1",)),),
        "GET",
        "/v3/customers?id=1",
        False,
        "resource",
        ALL,
        id="resource-never-sees-query",
    ),
    pytest.param(
        (Grant(ALL, READ, ("/v3/a", "/v3/b")),),
        "GET",
        "/v3/b",
        True,
        "allowed",
        ALL,
        id="resource-any-listed",
    ),
    pytest.param(
        (Grant(ALL, WRITE, ("/v3/a",)),),
        "GET",
        "/v3/a",
        False,
        "permission",
        ALL,
        id="resource-still-needs-method",
    ),
    # Query strings never choose the entity.
    pytest.param(
        (Grant(ALL, RW),),
        "GET",
        "/v3/customers?next=/v3/targetGroups",
        True,
        "allowed",
        ALL,
        id="query-not-entity",
    ),
    pytest.param(
        (Grant(TG, RW),),
        "GET",
        "/v3/targetGroups?x=1",
        True,
        "allowed",
        TG,
        id="query-dropped",
    ),
    # Case: paths are matched as sent, so a case variant is not the TargetGroups area.
    pytest.param(
        (Grant(TG, RW),), "GET", "/v3/TargetGroups", False, "no_grant", ALL, id="case-area"
    ),
    pytest.param(
        (Grant(ALL, READ),), "GET", "/v3/TARGETGROUPS", True, "allowed", ALL, id="case-all"
    ),
    pytest.param(
        (Grant(ALL, READ, ("/v3/customers",)),),
        "GET",
        "/v3/Customers",
        False,
        "resource",
        ALL,
        id="case-resource",
    ),
    # No percent-decoding: an encoded letter is not the letter.
    pytest.param(
        (Grant(TG, RW),), "GET", "/v3/target%47roups", False, "no_grant", ALL, id="pct-letter"
    ),
]


@pytest.mark.parametrize(("grants", "method", "path", "allowed", "reason", "entity"), DECISIONS)
def test_decide(
    grants: tuple[Grant, ...],
    method: str,
    path: str,
    allowed: bool,
    reason: str,
    entity: int,
) -> None:
    decision = decide(DEFAULT_ENTITIES, grants, method, path)
    assert (decision.allowed, decision.reason, decision.entity_id) == (allowed, reason, entity)


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
ALLOWS = {
    READ: {"GET", "HEAD"},
    WRITE: {"POST", "PUT", "PATCH", "DELETE"},
    RW: {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"},
}


@pytest.mark.parametrize(
    ("permission", "method", "allowed"),
    [
        pytest.param(p, m, m in ALLOWS[p], id=f"{p.value}-{m}")
        for p in (READ, WRITE, RW)
        for m in METHODS
    ],
)
def test_permission_methods(permission: Permission, method: str, allowed: bool) -> None:
    assert permission.allows(method) is allowed
    decision = decide(DEFAULT_ENTITIES, (Grant(ALL, permission),), method, "/v3/customers")
    assert decision.allowed is allowed
    assert decision.reason == ("allowed" if allowed else "permission")


REFUSED_PATHS = [
    pytest.param("/v3/targetGroups/../clients", id="dot-dot"),
    pytest.param("/v3/./targetGroups", id="dot"),
    pytest.param("/v3/customers/..", id="dot-dot-end"),
    pytest.param("/v3/targetGroups%2F..%2Fclients", id="pct-2F"),
    pytest.param("/v3/targetGroups%2f..%2fclients", id="pct-2f"),
    pytest.param("/v3/%2e%2e/clients", id="pct-2e"),
    pytest.param("/v3/%2E%2E/clients", id="pct-2E"),
    pytest.param("/v3/.%2e/clients", id="dot-pct-2e"),
    pytest.param("/v3/a%5cb", id="pct-5c"),
    pytest.param("/v3\\targetGroups", id="backslash"),
    pytest.param("/v3/customers\n", id="trailing-newline"),
    pytest.param("/v3/customers\r", id="trailing-cr"),
    pytest.param("/v3/cust\tomers", id="tab"),
    pytest.param("/v3/cust\x00omers", id="nul"),
    pytest.param("/v3/cust\x7fomers", id="del"),
    pytest.param("/v3/cust omers", id="space"),
    pytest.param("v3/customers", id="no-leading-slash"),
    pytest.param("", id="empty"),
    pytest.param("?/v3/customers", id="only-query"),
    pytest.param("http://evil/v3/customers", id="absolute-url"),
]


@pytest.mark.parametrize("path", REFUSED_PATHS)
def test_decide_refuses_ambiguous_paths(path: str) -> None:
    assert normalise_path(path) is None
    decision = decide(DEFAULT_ENTITIES, EVERYTHING, "GET", path)
    assert (decision.allowed, decision.reason, decision.entity_id) == (
        False,
        "path_rejected",
        None,
    )


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        pytest.param("/v3/customers", "/v3/customers", id="plain"),
        pytest.param("/v3/customers?a=1?b", "/v3/customers", id="query"),
        pytest.param("/v3/customers/", "/v3/customers/", id="trailing-slash-kept"),
        pytest.param("/v3/a..b/.c", "/v3/a..b/.c", id="dots-inside-segment"),
        pytest.param("/v3/%41", "/v3/%41", id="no-decoding"),
    ],
)
def test_normalise_path_keeps_acceptable_paths(raw: str, normal: str) -> None:
    assert normalise_path(raw) == normal


def test_entities_are_tried_in_id_order_whatever_the_given_order() -> None:
    shuffled = list(reversed(DEFAULT_ENTITIES))
    found = entity_for_path(shuffled, "/v3/targetGroups/v1.1/transaction")
    assert found is not None
    assert found.id == TG


def test_no_fallback_entity_means_no_entity() -> None:
    entities = [ScopeEntity(1, "TargetGroups", r".*v3/targetGroups.*")]
    decision = decide(entities, EVERYTHING, "GET", "/v3/customers")
    assert (decision.allowed, decision.reason) == (False, "no_entity")


def test_decide_accepts_any_iterable_of_grants() -> None:
    decision = decide(DEFAULT_ENTITIES, (g for g in EVERYTHING), "GET", "/v3/targetGroups")
    assert decision.allowed is True


COVERS = [
    pytest.param(None, Grant(TG, READ), False, id="no-holder"),
    pytest.param(Grant(ALL, RW), Grant(TG, READ), False, id="other-entity"),
    pytest.param(Grant(TG, RW), Grant(TG, READ), True, id="rw-covers-read"),
    pytest.param(Grant(TG, RW), Grant(TG, WRITE), True, id="rw-covers-write"),
    pytest.param(Grant(TG, RW), Grant(TG, RW), True, id="rw-covers-rw"),
    pytest.param(Grant(TG, READ), Grant(TG, READ), True, id="read-covers-read"),
    pytest.param(Grant(TG, READ), Grant(TG, WRITE), False, id="read-not-write"),
    pytest.param(Grant(TG, READ), Grant(TG, RW), False, id="read-not-rw"),
    pytest.param(Grant(TG, WRITE), Grant(TG, WRITE), True, id="write-covers-write"),
    pytest.param(Grant(TG, WRITE), Grant(TG, READ), False, id="write-not-read"),
    pytest.param(Grant(TG, WRITE), Grant(TG, RW), False, id="write-not-rw"),
    pytest.param(Grant(TG, RW), Grant(TG, RW, ("/a",)), True, id="unlimited-covers-limited"),
    pytest.param(Grant(TG, RW, ("/a",)), Grant(TG, RW), False, id="limited-not-unlimited"),
    pytest.param(Grant(TG, RW, ("/a", "/b")), Grant(TG, READ, ("/b",)), True, id="subset"),
    pytest.param(Grant(TG, RW, ("/a", "/b")), Grant(TG, RW, ("/b", "/a")), True, id="same-set"),
    pytest.param(Grant(TG, RW, ("/a",)), Grant(TG, RW, ("/a", "/c")), False, id="superset"),
    pytest.param(Grant(TG, RW, ("/a.*",)), Grant(TG, RW, ("/ab",)), False, id="no-regex-reason"),
    pytest.param(Grant(TG, READ, ("/a",)), Grant(TG, RW, ("/a",)), False, id="limited-perm"),
]


@pytest.mark.parametrize(("holder", "wanted", "covered"), COVERS)
def test_grant_covers(holder: Grant | None, wanted: Grant, covered: bool) -> None:
    assert grant_covers(holder, wanted) is covered


GRANTS_COVER = [
    pytest.param((), (), None, id="nothing-wanted-empty"),
    pytest.param(EVERYTHING, (), None, id="nothing-wanted"),
    pytest.param((), (Grant(TG, READ),), Grant(TG, READ), id="nothing-held"),
    pytest.param(EVERYTHING, EVERYTHING, None, id="all-covered"),
    pytest.param(
        (Grant(TG, RW), Grant(ALL, READ)),
        (Grant(TG, READ), Grant(ALL, WRITE), Grant(TX, READ)),
        Grant(ALL, WRITE),
        id="first-uncovered",
    ),
    pytest.param(
        (Grant(ALL, RW),), (Grant(ALL, READ), Grant(TG, READ)), Grant(TG, READ), id="all-not-tg"
    ),
]


@pytest.mark.parametrize(("holder", "wanted", "uncovered"), GRANTS_COVER)
def test_grants_cover(
    holder: tuple[Grant, ...], wanted: tuple[Grant, ...], uncovered: Grant | None
) -> None:
    assert grants_cover(holder, wanted) == uncovered


INTERSECT_CASES = [
    pytest.param(
        Grant(1, Permission.READWRITE),
        Grant(1, Permission.READ),
        Grant(1, Permission.READ),
        id="rw-and-read-is-read",
    ),
    pytest.param(Grant(1, Permission.READ), Grant(1, Permission.WRITE), None, id="read-write-none"),
    pytest.param(Grant(1, Permission.READ), Grant(2, Permission.READ), None, id="other-entity"),
    pytest.param(
        Grant(1, Permission.READ, ("/a", "/b")),
        Grant(1, Permission.READWRITE),
        Grant(1, Permission.READ, ("/a", "/b")),
        id="unrestricted-keeps-patterns",
    ),
    pytest.param(
        Grant(1, Permission.READ, ("/a", "/b")),
        Grant(1, Permission.READ, ("/b", "/c")),
        Grant(1, Permission.READ, ("/b",)),
        id="common-patterns",
    ),
    pytest.param(
        Grant(1, Permission.READ, ("/a",)),
        Grant(1, Permission.READ, ("/c",)),
        None,
        id="disjoint-patterns",
    ),
]


@pytest.mark.parametrize(("first", "second", "expected"), INTERSECT_CASES)
def test_intersect(first: Grant, second: Grant, expected: Grant | None) -> None:
    assert intersect(first, second) == expected
    swapped = intersect(second, first)
    assert (swapped is None) == (expected is None)
    if swapped is not None and expected is not None:
        assert swapped.permission == expected.permission
        assert set(swapped.resources) == set(expected.resources)

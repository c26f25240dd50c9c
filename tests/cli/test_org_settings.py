"""``keyloft org list`` and ``keyloft org update``: the JSON shapes, the audit trail, and the
limits: lowering one below what the org's active clients use is refused naming the count (and
changes nothing) unless ``--force``, which leaves those clients as they are."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import Result

from keyloft.config import Settings
from keyloft.runtime import build_runtime
from keyloft.web.app import create_app
from tests.support.api import basic
from tests.support.cli import Invoke, as_json

CLIENTS = "/v3/integrations/clients"


@pytest.fixture
def demo(initialised: Invoke) -> dict[str, Any]:
    made: dict[str, Any] = as_json(initialised("init", "--demo", "--json"))
    return made


def _fails(result: Result, *phrases: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def _orgs(db: Path) -> list[Any]:
    with sqlite3.connect(db) as connection:
        found = [
            connection.execute("SELECT * FROM orgs ORDER BY id").fetchall(),
            connection.execute("SELECT count(*) FROM audit_events").fetchall(),
        ]
    connection.close()
    return found


async def _api(
    calls: list[tuple[str, str, dict[str, Any] | None]], auth: dict[str, str]
) -> list[tuple[int, Any]]:
    runtime = await build_runtime(Settings())
    answers: list[tuple[int, Any]] = []
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://keyloft.test") as http:
            for method, path, body in calls:
                answer = await http.request(method, path, json=body, headers=auth)
                answers.append((answer.status_code, answer.json()))
    finally:
        await runtime.close()
    return answers


def _body(demo: dict[str, Any], name: str, ttl: int = 600) -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "expirationTokenTime": ttl,
        "defaultTillId": demo["tills"][0]["id"],
        "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
    }


def _auth(demo: dict[str, Any]) -> dict[str, str]:
    return basic(demo["admin"]["username"], demo["admin"]["password"])


def _create(demo: dict[str, Any], *bodies: dict[str, Any]) -> list[tuple[int, Any]]:
    return asyncio.run(_api([("POST", CLIENTS, body) for body in bodies], _auth(demo)))


def test_org_list(demo: dict[str, Any], initialised: Invoke) -> None:
    other = as_json(initialised("org", "create", "--name", "Other", "--json"))
    created = _create(demo, _body(demo, "one"), _body(demo, "two"))
    assert [status for status, _ in created] == [200, 200]
    listed = as_json(initialised("org", "list", "--json"))
    assert [set(org) for org in listed] == [
        {"id", "name", "timezone", "maxClients", "maxTokenTtl", "activeClients"}
    ] * 2
    assert [(org["id"], org["activeClients"]) for org in listed] == [
        (demo["orgId"], 2),
        (other["id"], 0),
    ]
    assert listed[1] == {**other, "activeClients": 0}
    text = initialised("org", "list")
    assert text.exit_code == 0
    assert "Other" in text.stdout
    assert "2/15" in text.stdout


def test_org_update(demo: dict[str, Any], initialised: Invoke, workdir: Path) -> None:
    org = str(demo["orgId"])
    ((status, made),) = _create(demo, _body(demo, "zoned"))
    assert status == 200
    assert made["data"]["attribution"]["createdOn"].endswith("+0530")  # the demo org's zone
    data = as_json(
        initialised(
            "org",
            "update",
            org,
            "--name",
            "Renamed",
            "--timezone",
            "Europe/Berlin",
            "--max-clients",
            "20",
            "--max-token-ttl",
            "7200",
            "--json",
        )
    )
    assert data == {
        "id": demo["orgId"],
        "name": "Renamed",
        "timezone": "Europe/Berlin",
        "maxClients": 20,
        "maxTokenTtl": 7200,
    }
    assert as_json(initialised("org", "list", "--json")) == [{**data, "activeClients": 1}]
    only_name = as_json(initialised("org", "update", org, "--name", "Again", "--json"))
    assert only_name == {**data, "name": "Again"}
    events = as_json(initialised("audit", "--org", org, "--action", "org.update", "--json"))[
        "events"
    ]
    assert [e["changes"] for e in events] == [
        {"name": ["Renamed", "Again"]},
        {
            "name": [events[1]["changes"]["name"][0], "Renamed"],
            "timezone": [events[1]["changes"]["timezone"][0], "Europe/Berlin"],
            "maxClients": [15, 20],
            "maxTokenTtl": [3600, 7200],
        },
    ]
    assert all(e["actor"]["type"] == "OPERATOR" for e in events)
    # The API shows the client's dates in the org's new zone.
    key = made["data"]["clientKey"]
    ((status, read),) = asyncio.run(_api([("GET", f"{CLIENTS}/{key}", None)], _auth(demo)))
    assert status == 200, read
    assert read["data"]["attribution"]["createdOn"][-5:] in {"+0100", "+0200"}


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        pytest.param(["999", "--name", "x"], "No org with id 999", id="unknown-org"),
        pytest.param(["{org}"], "Nothing to change", id="nothing"),
        pytest.param(["{org}", "--name", "Other"], "already exists", id="name-taken"),
        pytest.param(["{org}", "--timezone", "Mars/Base"], "unknown time zone", id="zone"),
        pytest.param(["{org}", "--max-clients", "0"], "maxClients", id="zero-clients"),
        pytest.param(["{org}", "--max-token-ttl", "99999999"], "maxTokenTtl", id="ceiling"),
    ],
)
def test_refused_updates_change_nothing(
    demo: dict[str, Any], initialised: Invoke, workdir: Path, args: list[str], phrase: str
) -> None:
    as_json(initialised("org", "create", "--name", "Other", "--json"))
    before = _orgs(workdir / "keyloft.db")
    _fails(initialised("org", "update", *[a.format(org=demo["orgId"]) for a in args]), phrase)
    assert _orgs(workdir / "keyloft.db") == before


def test_lowering_max_clients_below_use_is_refused_naming_the_count(
    demo: dict[str, Any], initialised: Invoke, workdir: Path
) -> None:
    org = str(demo["orgId"])
    created = _create(demo, *[_body(demo, f"c{n}") for n in range(3)])
    assert [status for status, _ in created] == [200] * 3
    before = _orgs(workdir / "keyloft.db")

    refused = initialised("org", "update", org, "--max-clients", "2")
    _fails(refused, "3 active API clients", "--force")
    as_object = initialised("org", "update", org, "--max-clients", "2", "--json")
    assert as_object.exit_code == 1
    error = json.loads(as_object.stdout)["error"]
    assert (error["code"], error["activeClients"]) == (4090, 3)
    assert _orgs(workdir / "keyloft.db") == before
    # Down to the use itself is no refusal.
    assert (
        as_json(initialised("org", "update", org, "--max-clients", "3", "--json"))["maxClients"]
        == 3
    )

    forced = as_json(initialised("org", "update", org, "--max-clients", "1", "--force", "--json"))
    assert forced["maxClients"] == 1
    (event, _) = as_json(initialised("audit", "--org", org, "--action", "org.update", "--json"))[
        "events"
    ]
    assert event["changes"] == {"maxClients": [3, 1], "belowUse": [None, True]}
    # The clients stay, valid; a new one waits until fewer are active.
    answers = asyncio.run(
        _api([("GET", CLIENTS, None), ("POST", CLIENTS, _body(demo, "c4"))], _auth(demo))
    )
    (listed_status, listed), (create_status, _) = answers
    assert listed_status == 200
    assert [(c["name"], c["isValid"]) for c in listed["data"]] == [
        ("c0", True),
        ("c1", True),
        ("c2", True),
    ]
    assert create_status == 409


def test_lowering_max_token_ttl_below_a_clients_lifetime_is_refused(
    demo: dict[str, Any], initialised: Invoke, workdir: Path
) -> None:
    org = str(demo["orgId"])
    created = _create(
        demo, _body(demo, "long", ttl=3600), _body(demo, "longer", ttl=3000), _body(demo, "short")
    )
    assert [status for status, _ in created] == [200] * 3
    before = _orgs(workdir / "keyloft.db")

    refused = initialised("org", "update", org, "--max-token-ttl", "1200")
    _fails(refused, "2 active API clients with a token lifetime above", "3600 s", "--force")
    assert _orgs(workdir / "keyloft.db") == before
    as_object = initialised("org", "update", org, "--max-token-ttl", "1200", "--json")
    error = json.loads(as_object.stdout)["error"]
    assert (error["clientsAboveMaxTokenTtl"], error["longestTokenTtl"]) == (2, 3600)

    forced = as_json(
        initialised("org", "update", org, "--max-token-ttl", "1200", "--force", "--json")
    )
    assert forced["maxTokenTtl"] == 1200
    # Existing clients keep their lifetime (and mint with it); a new one gets the new cap.
    long_client = created[0][1]["data"]
    answers = asyncio.run(
        _api(
            [
                ("GET", f"{CLIENTS}/{long_client['clientKey']}", None),
                ("POST", CLIENTS, _body(demo, "new", ttl=3600)),
            ],
            _auth(demo),
        )
    )
    (read_status, read), (create_status, _) = answers
    assert (read_status, read["data"]["expirationTokenTime"]) == (200, 3600)
    assert create_status == 409  # beyond the org's cap: well formed, but the org forbids it


def test_org_secret_lifetime(demo: dict[str, Any], initialised: Invoke) -> None:
    org = str(demo["orgId"])
    data = as_json(initialised("org", "update", org, "--secret-lifetime", "86400", "--json"))
    assert data["secretLifetime"] == 86400
    ((status, made),) = _create(demo, _body(demo, "expiring"))
    assert status == 200
    assert made["data"]["clientSecretExpiresAt"] is not None
    _fails(initialised("org", "update", org, "--secret-lifetime", "5"), "secretLifetime")
    cleared = as_json(initialised("org", "update", org, "--secret-lifetime", "0", "--json"))
    assert "secretLifetime" not in cleared
    ((status, made),) = _create(demo, _body(demo, "forever"))
    assert made["data"]["clientSecretExpiresAt"] is None
    events = as_json(initialised("audit", "--org", org, "--action", "org.update", "--json"))[
        "events"
    ]
    assert [e["changes"] for e in events] == [
        {"secretLifetime": [86400, None]},
        {"secretLifetime": [None, 86400]},
    ]

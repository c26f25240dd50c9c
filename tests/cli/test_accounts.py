"""``keyloft admin`` and ``keyloft till`` on existing accounts: list, passwd, disable, enable and
delete, with their JSON shapes, their refusals (nothing changed), the audit trail, and what the
API then makes of the credentials; on a temp SQLite file."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import socket
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import Result

from keyloft.config import Settings
from keyloft.domain.passwords import verify_password
from keyloft.runtime import build_runtime
from keyloft.web.app import create_app
from tests.support.api import basic
from tests.support.cli import Invoke, as_json, password_hash, rows

SCOPES = "/v3/integrations/scopes"
V3_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")


@pytest.fixture
def demo(initialised: Invoke) -> dict[str, Any]:
    made: dict[str, Any] = as_json(initialised("init", "--demo", "--json"))
    return made


def _fails(result: Result, *phrases: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def _state(db: Path) -> list[Any]:
    """What the commands could change: principals and audit events."""
    with sqlite3.connect(db) as connection:
        found = [
            connection.execute("SELECT * FROM principals ORDER BY id").fetchall(),
            connection.execute("SELECT count(*) FROM audit_events").fetchall(),
        ]
    connection.close()
    return found


def _events(keyloft: Invoke, org: int, action: str) -> list[dict[str, Any]]:
    listed = as_json(keyloft("audit", "--org", str(org), "--action", action, "--json"))
    events: list[dict[str, Any]] = listed["events"]
    return events


async def _api(
    calls: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]], *, flush: bool = False
) -> list[tuple[int, Any]]:
    """Make ``calls`` (method, path, JSON body, headers) on a node of the configured database."""
    runtime = await build_runtime(Settings())
    answers: list[tuple[int, Any]] = []
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://keyloft.test") as http:
            for method, path, body, headers in calls:
                answer = await http.request(method, path, json=body, headers=headers)
                answers.append((answer.status_code, answer.json()))
        if flush:
            await runtime.flush_usage()
    finally:
        await runtime.close()
    return answers


def _status(auth: dict[str, str]) -> int:
    ((status, _),) = asyncio.run(_api([("GET", SCOPES, None, auth)]))
    return status


def _client(auth: dict[str, str], till_id: int, name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "description": "",
        "expirationTokenTime": 600,
        "defaultTillId": till_id,
        "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
    }
    ((status, answer),) = asyncio.run(_api([("POST", "/v3/integrations/clients", body, auth)]))
    assert status == 200, answer
    data: dict[str, Any] = answer["data"]
    return data


def _admin(keyloft: Invoke, org: int, username: str) -> dict[str, Any]:
    made: dict[str, Any] = as_json(
        keyloft("admin", "create", "--org", str(org), "--username", username, "--json")
    )
    return made


def test_admin_list(demo: dict[str, Any], initialised: Invoke) -> None:
    org = demo["orgId"]
    second = _admin(initialised, org, "second-admin")
    listed = as_json(initialised("admin", "list", "--org", str(org), "--json"))
    assert listed == [
        {"id": listed[0]["id"], "username": "demo-admin", "active": True, "lastLoginOn": None},
        {"id": second["id"], "username": "second-admin", "active": True, "lastLoginOn": None},
    ]
    text = initialised("admin", "list", "--org", str(org))
    assert text.exit_code == 0, text.output
    assert "demo-admin" in text.stdout
    assert "second-admin" in text.stdout
    assert "never" in text.stdout


def test_till_list(demo: dict[str, Any], initialised: Invoke) -> None:
    listed = as_json(initialised("till", "list", "--org", str(demo["orgId"]), "--json"))
    assert listed == [
        {"id": till["id"], "code": till["code"], "active": True, "lastLoginOn": None}
        for till in demo["tills"]
    ]


def test_last_login_is_listed_in_the_orgs_time_zone(
    demo: dict[str, Any], initialised: Invoke
) -> None:
    admin = demo["admin"]
    answers = asyncio.run(
        _api([("GET", SCOPES, None, basic(admin["username"], admin["password"]))], flush=True)
    )
    assert answers[0][0] == 200
    listed = as_json(initialised("admin", "list", "--org", str(demo["orgId"]), "--json"))
    last = listed[0]["lastLoginOn"]
    assert V3_DATE.match(last), last
    org = next(o for o in as_json(initialised("org", "list", "--json")) if o["id"] == demo["orgId"])
    assert last.endswith(datetime.now(ZoneInfo(org["timezone"])).strftime("%z"))
    assert last[17:23] == "00.000"  # to the minute
    tills = as_json(initialised("till", "list", "--org", str(demo["orgId"]), "--json"))
    assert [till["lastLoginOn"] for till in tills] == [None, None]


def test_admin_passwd_generates_a_password_shown_once(
    demo: dict[str, Any], initialised: Invoke, workdir: Path
) -> None:
    org, admin = demo["orgId"], demo["admin"]
    data = as_json(
        initialised("admin", "passwd", "--org", str(org), "--username", admin["username"], "--json")
    )
    assert set(data) == {"username", "password"}
    assert data["username"] == admin["username"]
    assert len(data["password"]) >= 32
    stored = password_hash(workdir / "keyloft.db", admin["username"])
    assert verify_password(stored, data["password"])
    assert not verify_password(stored, admin["password"])
    assert _status(basic(admin["username"], admin["password"])) == 401
    assert _status(basic(admin["username"], data["password"])) == 200
    (event,) = _events(initialised, org, "admin.password")
    assert event["target"] == {"type": "admin", "key": admin["username"]}
    assert event["changes"] == {"password": ["replaced", "generated"]}
    assert event["actor"] == {
        "code": f"{getpass.getuser()}@{socket.gethostname()}",
        "type": "OPERATOR",
    }
    assert admin["password"] not in json.dumps(event)
    assert data["password"] not in json.dumps(event)


def test_till_passwd_from_stdin_is_not_printed(
    demo: dict[str, Any], initialised: Invoke, workdir: Path
) -> None:
    till = demo["tills"][0]
    result = initialised(
        "till",
        "passwd",
        "--org",
        str(demo["orgId"]),
        "--code",
        till["code"],
        "--password-stdin",
        input="a-chosen-password\n",
    )
    assert result.exit_code == 0, result.output
    assert "a-chosen-password" not in result.output
    assert till["code"] in result.stdout
    stored = password_hash(workdir / "keyloft.db", till["code"])
    assert verify_password(stored, "a-chosen-password")
    (event,) = _events(initialised, demo["orgId"], "till.password")
    assert event["changes"] == {"password": ["replaced", "chosen"]}
    as_json_result = initialised(
        "till",
        "passwd",
        "--org",
        str(demo["orgId"]),
        "--code",
        till["code"],
        "--password-stdin",
        "--json",
        input="another-password\n",
    )
    assert as_json(as_json_result) == {"code": till["code"], "password": "another-password"}


@pytest.mark.parametrize(
    ("stdin", "phrase"),
    [
        pytest.param("short\n", "at least 8 characters", id="too-short"),
        pytest.param("\n", "no password", id="empty"),
    ],
)
def test_a_refused_password_changes_nothing(
    demo: dict[str, Any], initialised: Invoke, workdir: Path, stdin: str, phrase: str
) -> None:
    before = _state(workdir / "keyloft.db")
    result = initialised(
        "admin",
        "passwd",
        "--org",
        str(demo["orgId"]),
        "--username",
        demo["admin"]["username"],
        "--password-stdin",
        input=stdin,
    )
    _fails(result, phrase)
    assert _state(workdir / "keyloft.db") == before


def test_disable_and_enable_an_admin(demo: dict[str, Any], initialised: Invoke) -> None:
    org, admin = str(demo["orgId"]), demo["admin"]
    auth = basic(admin["username"], admin["password"])
    args = ("--org", org, "--username", admin["username"])
    disabled = as_json(initialised("admin", "disable", *args, "--json"))
    assert disabled == {
        "id": disabled["id"],
        "username": admin["username"],
        "active": False,
        "deleted": False,
    }
    assert _status(auth) == 401
    listed = as_json(initialised("admin", "list", "--org", org, "--json"))
    assert [(a["username"], a["active"]) for a in listed] == [(admin["username"], False)]
    again = initialised("admin", "disable", *args)
    assert again.exit_code == 0, again.output
    assert "already disabled" in again.stdout
    enabled = as_json(initialised("admin", "enable", *args, "--json"))
    assert (enabled["active"], enabled["deleted"]) == (True, False)
    assert _status(auth) == 200
    assert [e["changes"] for e in _events(initialised, demo["orgId"], "admin.disable")] == [
        {"active": [True, False]}
    ]
    assert [e["changes"] for e in _events(initialised, demo["orgId"], "admin.enable")] == [
        {"active": [False, True]}
    ]


def test_delete_an_admin_keeps_its_clients_attribution(
    demo: dict[str, Any], initialised: Invoke, workdir: Path
) -> None:
    org, till = demo["orgId"], demo["tills"][0]
    leaving = _admin(initialised, org, "leaving-admin")
    leaving_auth = basic("leaving-admin", leaving["password"])
    client = _client(leaving_auth, till["id"], "made-by-leaver")
    deleted = as_json(
        initialised("admin", "delete", "--org", str(org), "--username", "leaving-admin", "--json")
    )
    assert deleted == {
        "id": leaving["id"],
        "username": "leaving-admin",
        "active": False,
        "deleted": True,
    }
    assert _status(leaving_auth) == 401
    listed = as_json(initialised("admin", "list", "--org", str(org), "--json"))
    assert [a["username"] for a in listed] == ["demo-admin"]
    # Another admin still sees who made the client.
    admin = demo["admin"]
    ((status, read),) = asyncio.run(
        _api(
            [
                (
                    "GET",
                    f"/v3/integrations/clients/{client['clientKey']}",
                    None,
                    basic(admin["username"], admin["password"]),
                )
            ]
        )
    )
    assert status == 200
    assert read["data"]["attribution"] == client["attribution"]
    assert read["data"]["attribution"]["createdBy"]["code"] == "leaving-admin"
    # The login is never reused, and the account cannot come back.
    _fails(
        initialised("admin", "create", "--org", str(org), "--username", "leaving-admin"),
        "already taken",
    )
    before = _state(workdir / "keyloft.db")
    for verb in ("enable", "disable", "passwd", "delete"):
        _fails(
            initialised("admin", verb, "--org", str(org), "--username", "leaving-admin"),
            "was deleted",
        )
    assert _state(workdir / "keyloft.db") == before
    (event,) = _events(initialised, org, "admin.delete")
    assert event["changes"] == {"active": [True, False], "deleted": [False, True]}


def test_a_till_that_clients_act_as_cannot_be_deleted(
    demo: dict[str, Any], initialised: Invoke, workdir: Path
) -> None:
    org, admin, till = demo["orgId"], demo["admin"], demo["tills"][0]
    auth = basic(admin["username"], admin["password"])
    first = _client(auth, till["id"], "orders-sync")
    second = _client(auth, till["id"], "reports")
    args = ("--org", str(org), "--code", till["code"])
    before = _state(workdir / "keyloft.db")

    refused = initialised("till", "delete", *args)
    _fails(refused, "2 active API clients", "orders-sync", first["clientKey"], "reports")
    assert "disable the Till instead" in refused.stderr
    as_object = initialised("till", "delete", *args, "--json")
    assert as_object.exit_code == 1
    error = json.loads(as_object.stdout)["error"]
    assert error["code"] == 4090
    assert error["clients"] == [
        {"clientKey": first["clientKey"], "name": "orders-sync"},
        {"clientKey": second["clientKey"], "name": "reports"},
    ]
    assert _state(workdir / "keyloft.db") == before

    # Disabling is allowed; deleting once no active client acts as it, too.
    assert as_json(initialised("till", "disable", *args, "--json"))["active"] is False
    for client in (first, second):
        ((status, _),) = asyncio.run(
            _api([("DELETE", f"/v3/integrations/clients/{client['clientKey']}", None, auth)])
        )
        assert status == 200
    deleted = as_json(initialised("till", "delete", *args, "--json"))
    assert (deleted["code"], deleted["deleted"]) == (till["code"], True)
    tills = as_json(initialised("till", "list", "--org", str(org), "--json"))
    assert [t["code"] for t in tills] == [demo["tills"][1]["code"]]


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        pytest.param(["admin", "disable", "--org", "999", "--username", "x"], "No org with id 999"),
        pytest.param(["admin", "list", "--org", "999"], "No org with id 999"),
        pytest.param(["till", "enable", "--org", "999", "--code", "x"], "No org with id 999"),
        pytest.param(["admin", "passwd", "--org", "{org}", "--username", "nobody"], "nobody"),
        pytest.param(["admin", "disable", "--org", "{org}", "--username", "nobody"], "nobody"),
        pytest.param(["till", "delete", "--org", "{org}", "--code", "nobody"], "nobody"),
        # A Till is not an admin, nor an admin a Till.
        pytest.param(["admin", "disable", "--org", "{org}", "--username", "{till}"], "No admin"),
        pytest.param(["till", "disable", "--org", "{org}", "--code", "demo-admin"], "No Till"),
    ],
)
def test_unknown_orgs_and_logins_are_refused_and_change_nothing(
    demo: dict[str, Any], initialised: Invoke, workdir: Path, args: list[str], phrase: str
) -> None:
    filled = [a.format(org=demo["orgId"], till=demo["tills"][0]["code"]) for a in args]
    phrase = phrase.format(till=demo["tills"][0]["code"])
    before = _state(workdir / "keyloft.db")
    _fails(initialised(*filled), phrase)
    as_object = initialised(*filled, "--json")
    assert as_object.exit_code == 1
    error = json.loads(as_object.stdout)["error"]
    assert error["code"] == 4040
    assert phrase in error["message"]
    assert _state(workdir / "keyloft.db") == before


def test_the_commands_announce_no_change_they_did_not_make(
    demo: dict[str, Any], initialised: Invoke, workdir: Path
) -> None:
    """Listing writes nothing (no event), and a second enable changes nothing."""
    before = _state(workdir / "keyloft.db")
    as_json(initialised("admin", "list", "--org", str(demo["orgId"]), "--json"))
    as_json(initialised("till", "list", "--org", str(demo["orgId"]), "--json"))
    enabled = initialised(
        "admin", "enable", "--org", str(demo["orgId"]), "--username", "demo-admin"
    )
    assert "already enabled" in enabled.stdout
    assert _state(workdir / "keyloft.db") == before
    assert rows(workdir / "keyloft.db", "SELECT count(*) FROM principals") == [(3,)]

"""Operator commands: orgs, admins, Tills, scope entities, serve and db, on a temp SQLite file."""

from __future__ import annotations

import math
import stat
import string
from pathlib import Path
from typing import Any

import pytest

from keyloft.domain.passwords import verify_password
from tests.support.cli import Invoke, as_json, password_hash, rows

URLSAFE = set(string.ascii_letters + string.digits + "-_")


@pytest.fixture
def org_id(initialised: Invoke) -> int:
    data = as_json(initialised("org", "create", "--name", "Acme", "--json"))
    return int(data["id"])


def _fails(result: Any, *phrases: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def test_org_create(initialised: Invoke, workdir: Path) -> None:
    data = as_json(
        initialised(
            "org",
            "create",
            "--name",
            "N",
            "--timezone",
            "Europe/Berlin",
            "--max-clients",
            "3",
            "--max-token-ttl",
            "900",
            "--json",
        )
    )
    assert data == {
        "id": data["id"],
        "name": "N",
        "timezone": "Europe/Berlin",
        "maxClients": 3,
        "maxTokenTtl": 900,
    }
    assert isinstance(data["id"], int)
    assert rows(workdir / "keyloft.db", "SELECT name, timezone, max_clients FROM orgs") == [
        ("N", "Europe/Berlin", 3)
    ]
    entities = as_json(initialised("scope", "list", "--org", str(data["id"]), "--json"))
    assert [(e["id"], e["entity"]) for e in entities] == [
        (1, "TargetGroups"),
        (2, "All"),
        (3, "Transaction"),
    ]


def test_org_create_defaults(initialised: Invoke) -> None:
    data = as_json(initialised("org", "create", "--name", "D", "--json"))
    assert (data["timezone"], data["maxClients"], data["maxTokenTtl"]) == ("UTC", 15, 3600)


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        pytest.param(["--timezone", "Mars/Olympus_Mons"], "unknown time zone", id="timezone"),
        pytest.param(["--max-clients", "0"], "maxClients", id="zero-clients"),
        pytest.param(["--max-token-ttl", "0"], "maxTokenTtl", id="zero-ttl"),
        pytest.param(["--max-token-ttl", "99999999"], "maxTokenTtl", id="ttl-above-ceiling"),
    ],
)
def test_org_create_refusals_store_nothing(
    initialised: Invoke, workdir: Path, args: list[str], phrase: str
) -> None:
    _fails(initialised("org", "create", "--name", "Bad", *args), phrase)
    assert rows(workdir / "keyloft.db", "SELECT * FROM orgs") == []


def test_org_name_is_unique(initialised: Invoke, org_id: int) -> None:
    _fails(initialised("org", "create", "--name", "Acme"), "already exists")


def test_admin_create_generates_a_strong_password(
    initialised: Invoke, workdir: Path, org_id: int
) -> None:
    data = as_json(
        initialised("admin", "create", "--org", str(org_id), "--username", "ops", "--json")
    )
    assert set(data) == {"id", "username", "password"}
    assert data["username"] == "ops"
    password = data["password"]
    assert set(password) <= URLSAFE
    assert len(password) * math.log2(len(URLSAFE)) >= 128
    assert verify_password(password_hash(workdir / "keyloft.db", "ops"), password)
    assert rows(workdir / "keyloft.db", "SELECT org_id, kind FROM principals") == [
        (org_id, "ADMIN_USER")
    ]


def test_admin_create_password_from_stdin(initialised: Invoke, workdir: Path, org_id: int) -> None:
    result = initialised(
        "admin",
        "create",
        "--org",
        str(org_id),
        "--username",
        "ops",
        "--password-stdin",
        "--json",
        input="chosen-password-1\n",
    )
    assert as_json(result)["password"] == "chosen-password-1"
    stored = password_hash(workdir / "keyloft.db", "ops")
    assert verify_password(stored, "chosen-password-1")
    assert not verify_password(stored, "chosen-password-1\n")


def test_admin_create_text_output_hides_a_chosen_password(initialised: Invoke, org_id: int) -> None:
    result = initialised(
        "admin",
        "create",
        "--org",
        str(org_id),
        "--username",
        "ops",
        "--password-stdin",
        input="chosen-password-1\n",
    )
    assert result.exit_code == 0, result.output
    assert "chosen-password-1" not in result.output


@pytest.mark.parametrize(
    ("stdin", "phrase"),
    [
        pytest.param("\n", "no password", id="empty"),
        pytest.param("", "no password", id="nothing"),
        pytest.param("short\n", "at least 8", id="short"),
    ],
)
def test_admin_create_bad_stdin_password(
    initialised: Invoke, workdir: Path, org_id: int, stdin: str, phrase: str
) -> None:
    result = initialised(
        "admin",
        "create",
        "--org",
        str(org_id),
        "--username",
        "ops",
        "--password-stdin",
        input=stdin,
    )
    _fails(result, phrase)
    assert rows(workdir / "keyloft.db", "SELECT * FROM principals") == []


def test_duplicate_login_refused(initialised: Invoke, workdir: Path, org_id: int) -> None:
    assert initialised("admin", "create", "--org", str(org_id), "--username", "ops").exit_code == 0
    _fails(
        initialised("admin", "create", "--org", str(org_id), "--username", "ops"),
        "already taken",
    )
    _fails(initialised("till", "create", "--org", str(org_id), "--code", "ops"), "already taken")
    assert len(rows(workdir / "keyloft.db", "SELECT * FROM principals")) == 1


@pytest.mark.parametrize("login", ["a:b", "with space", "tab\there", ""])
def test_bad_login_names(initialised: Invoke, org_id: int, login: str) -> None:
    _fails(initialised("admin", "create", "--org", str(org_id), "--username", login), "username")


def test_unknown_org(initialised: Invoke) -> None:
    _fails(initialised("admin", "create", "--org", "42", "--username", "ops"), "No org with id")
    _fails(initialised("till", "create", "--org", "42", "--code", "t"), "No org with id")
    _fails(initialised("scope", "add", "--org", "42", "--entity", "E", "--pattern", "/x"), "42")
    _fails(initialised("scope", "list", "--org", "42"), "No org with id")


def test_till_create(initialised: Invoke, workdir: Path, org_id: int) -> None:
    data = as_json(
        initialised(
            "till",
            "create",
            "--org",
            str(org_id),
            "--code",
            "acme.till.1",
            "--name",
            "Front",
            "--json",
        )
    )
    assert set(data) == {"id", "code", "password"}
    assert data["code"] == "acme.till.1"
    assert rows(workdir / "keyloft.db", "SELECT id, org_id, kind, name FROM principals") == [
        (data["id"], org_id, "TILL", "Front")
    ]
    assert verify_password(password_hash(workdir / "keyloft.db", "acme.till.1"), data["password"])


def test_scope_add_and_list(initialised: Invoke, org_id: int) -> None:
    added = as_json(
        initialised(
            "scope",
            "add",
            "--org",
            str(org_id),
            "--entity",
            "Coupons",
            "--pattern",
            ".*v2/coupons.*",
            "--json",
        )
    )
    assert added == {"id": 4, "entity": "Coupons", "pattern": ".*v2/coupons.*"}
    listed = as_json(initialised("scope", "list", "--org", str(org_id), "--json"))
    assert listed[-1] == added
    assert [e["id"] for e in listed] == [1, 2, 3, 4]
    assert listed[1] == {"id": 2, "entity": "All", "pattern": None}
    text = initialised("scope", "list", "--org", str(org_id))
    assert text.exit_code == 0
    assert "Coupons" in text.stdout
    assert "(everything else)" in text.stdout


@pytest.mark.parametrize(
    ("entity", "pattern", "phrase"),
    [
        pytest.param("Coupons", "(?=x)", "RE2", id="lookahead"),
        pytest.param("Coupons", "(", "RE2", id="syntax"),
        pytest.param("Coupons", "/" + "a" * 512, "512", id="too-long"),
        pytest.param("Coupons", "/a\n", "control", id="control"),
        pytest.param("all", ".*x.*", "already has", id="duplicate-name"),
        pytest.param("Bad Name", ".*x.*", "entity name", id="bad-name"),
    ],
)
def test_scope_add_refusals_store_nothing(
    initialised: Invoke, org_id: int, entity: str, pattern: str, phrase: str
) -> None:
    result = initialised(
        "scope", "add", "--org", str(org_id), "--entity", entity, "--pattern", pattern
    )
    _fails(result, phrase)
    assert len(as_json(initialised("scope", "list", "--org", str(org_id), "--json"))) == 3


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["org", "create", "--name", "X"], id="org-create"),
        pytest.param(["admin", "create", "--org", "1", "--username", "u"], id="admin-create"),
        pytest.param(["till", "create", "--org", "1", "--code", "t"], id="till-create"),
        pytest.param(["scope", "add", "--org", "1", "--entity", "E", "--pattern", "x"], id="add"),
        pytest.param(["scope", "list", "--org", "1"], id="scope-list"),
    ],
)
def test_uninitialised_database(keyloft: Invoke, workdir: Path, command: list[str]) -> None:
    _fails(keyloft(*command), "not initialised", "keyloft init")
    assert not (workdir / "keyloft.db").exists()


def test_serve_without_a_secret_refuses(
    keyloft: Invoke, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(args))
    _fails(keyloft("serve"), "No server secret", "keyloft init", "KEYLOFT_SECRET_KEY")
    assert started == []
    assert not (workdir / "keyloft.secret").exists()


def test_serve_with_a_short_secret_refuses(
    keyloft: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(args))
    monkeypatch.setenv("KEYLOFT_SECRET_KEY", "too-short")
    _fails(keyloft("serve"), "at least 32")
    assert started == []


def test_serve_starts_once_initialised(
    initialised: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[dict[str, object]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(kwargs))
    result = initialised("serve", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert [(s["host"], s["port"]) for s in started] == [("127.0.0.1", 8123)]


def test_db_check_and_upgrade(initialised: Invoke) -> None:
    check = initialised("db", "check")
    assert check.exit_code == 0, check.output
    assert "agree" in check.stdout
    upgrade = initialised("db", "upgrade")
    assert upgrade.exit_code == 0, upgrade.output
    assert "already current" in upgrade.stdout


def test_db_check_fails_without_a_database(keyloft: Invoke, workdir: Path) -> None:
    _fails(keyloft("db", "check"), "keyloft init")
    assert not (workdir / "keyloft.db").exists()


def test_db_check_fails_on_an_empty_database(keyloft: Invoke, workdir: Path) -> None:
    (workdir / "keyloft.db").touch()
    result = keyloft("db", "check")
    assert result.exit_code == 1
    assert "drift" in result.stdout


def test_db_upgrade_migrates_a_fresh_database(keyloft: Invoke, workdir: Path) -> None:
    result = keyloft("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "-> " in result.stdout
    assert stat.S_IMODE((workdir / "keyloft.db").stat().st_mode) == 0o600
    assert keyloft("db", "check").exit_code == 0

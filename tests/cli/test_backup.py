"""``keyloft backup`` and ``keyloft restore`` on the embedded SQLite database."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine
from typer.testing import Result

from keyloft.config import Settings
from keyloft.runtime import build_runtime
from keyloft.storage import migrate
from keyloft.web.app import create_app
from tests.support.api import basic
from tests.support.cli import Invoke, as_json, rows


def _fails(result: Result, *phrases: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def _dump(db: Path) -> list[str]:
    """The database's whole logical content, to compare before and after."""
    connection = sqlite3.connect(db)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".partial", "-journal")))


async def _api(
    calls: list[tuple[str, str, dict[str, Any] | None]], auth: dict[str, str]
) -> list[Any]:
    """Make ``calls`` (method, path, JSON body) against the configured database in turn."""
    runtime = await build_runtime(Settings())
    answers: list[Any] = []
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://keyloft.test") as http:
            for method, path, body in calls:
                answer = await http.request(method, path, json=body, headers=auth)
                answers.append((answer.status_code, answer.json()))
    finally:
        await runtime.close()
    return answers


def _client_body(till_id: int) -> dict[str, Any]:
    return {
        "name": "nightly-export",
        "description": "",
        "expirationTokenTime": 600,
        "defaultTillId": till_id,
        "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
    }


@pytest.fixture
def demo(keyloft: Invoke) -> dict[str, Any]:
    made: dict[str, Any] = as_json(keyloft("init", "--demo", "--json"))
    return made


class Writer:
    """Another connection that keeps inserting orgs, one committed transaction each, until
    stopped; ``committed`` counts those it has seen commit."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.committed = 0
        self.error: BaseException | None = None
        self._progress = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        connection = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        try:
            while not self._stop.is_set():
                connection.execute(
                    "INSERT INTO orgs (name, timezone, max_clients, max_token_ttl, created_at)"
                    " VALUES (?, 'UTC', 15, 3600, '2026-01-01 00:00:00.000000')",
                    (f"writer-{self.committed:06d}",),
                )
                with self._progress:
                    self.committed += 1
                    self._progress.notify_all()
        except BaseException as exc:
            self.error = exc
            with self._progress:
                self._progress.notify_all()
        finally:
            connection.close()

    def wait_for(self, count: int) -> int:
        with self._progress:
            reached = self._progress.wait_for(
                lambda: self.committed >= count or self.error is not None, timeout=30
            )
        assert reached, f"the writer committed only {self.committed} rows"
        assert self.error is None, self.error
        return self.committed

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_backup_while_another_connection_keeps_writing(
    keyloft: Invoke, demo: dict[str, Any], workdir: Path
) -> None:
    db = workdir / "keyloft.db"
    copy = workdir / "copy.db"
    with Writer(db) as writer:
        before = writer.wait_for(200)
        data = as_json(keyloft("backup", str(copy), "--json"))
        # The writer is not held up by the copy: it goes on committing afterwards.
        after = writer.wait_for(writer.committed + 50)
    assert writer.error is None
    with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM orgs WHERE name LIKE 'writer-%' ORDER BY name"
            )
        ]
        demo_org = connection.execute("SELECT id FROM orgs WHERE name = 'Demo'").fetchone()
    connection.close()
    # Every row committed before the copy started, then a contiguous run: a single snapshot.
    assert before <= len(names) <= after
    assert names == [f"writer-{n:06d}" for n in range(len(names))]
    assert demo_org == (demo["orgId"],)
    assert data["orgs"] == len(names) + 1
    assert data["schema"] == migrate.head_revision()
    assert data["path"] == str(copy)
    assert data["size"] == copy.stat().st_size
    assert not Path(f"{copy}-wal").exists()
    assert _leftovers(workdir) == []


def test_backup_is_owner_only_and_never_replaces_a_file_unasked(
    keyloft: Invoke, demo: dict[str, Any], workdir: Path
) -> None:
    copy = workdir / "nightly.db"
    previous = os.umask(0)
    try:
        result = keyloft("backup", str(copy))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert _mode(copy) == 0o600
    assert f"backup written to {copy}" in result.stdout
    assert "orgs     1" in result.stdout
    assert "server secret" in result.stdout
    first = copy.read_bytes()

    assert keyloft("org", "create", "--name", "Later").exit_code == 0
    _fails(keyloft("backup", str(copy)), "exists: pass --force")
    assert copy.read_bytes() == first
    assert _leftovers(workdir) == []

    assert as_json(keyloft("backup", str(copy), "--force", "--json"))["orgs"] == 2
    assert _mode(copy) == 0o600
    assert rows(copy, "SELECT count(*) FROM orgs WHERE name = 'Later'") == [(1,)]


def test_backup_refusals(keyloft: Invoke, workdir: Path) -> None:
    _fails(keyloft("backup", str(workdir / "copy.db")), "no database at", "keyloft init")
    assert as_json(keyloft("init", "--json"))["schema"]
    _fails(keyloft("backup", str(workdir / "missing" / "copy.db")), "does not exist")
    _fails(keyloft("backup", str(workdir)), "is a directory")
    _fails(keyloft("backup", "keyloft.db", "--force"), "cannot replace the database")
    assert sorted(p.name for p in workdir.iterdir() if p.suffix == ".db") == ["keyloft.db"]


def test_restore_brings_back_the_state_of_the_backup(
    keyloft: Invoke, demo: dict[str, Any], workdir: Path
) -> None:
    db = workdir / "keyloft.db"
    admin = basic(demo["admin"]["username"], demo["admin"]["password"])
    ((status, created),) = asyncio.run(
        _api([("POST", "/v3/integrations/clients", _client_body(demo["tills"][0]["id"]))], admin)
    )
    assert status == 200, created
    key, secret = created["data"]["clientKey"], created["data"]["clientSecret"]
    assert as_json(keyloft("backup", "before.db", "--json"))["activeClients"] == 1

    # Later changes: a deleted client, a new org, a rotated signing key.
    ((status, _),) = asyncio.run(_api([("DELETE", f"/v3/integrations/clients/{key}", None)], admin))
    assert status == 200
    assert keyloft("org", "create", "--name", "Later").exit_code == 0
    assert keyloft("keys", "rotate").exit_code == 0
    later = _dump(db)
    # A connection open across the restore (as a running node's would be) sees the new state.
    reader = sqlite3.connect(db, isolation_level=None)
    assert reader.execute("SELECT count(*) FROM orgs").fetchone() == (2,)

    data = as_json(keyloft("restore", "before.db", "--yes", "--json"))
    assert data["restoredFrom"] == str(workdir / "before.db")
    assert (data["orgs"], data["clients"], data["activeClients"]) == (1, 1, 1)
    assert data["migratedFrom"] is None
    assert data["restartNeeded"] is True
    assert reader.execute("SELECT count(*) FROM orgs").fetchone() == (1,)
    reader.close()
    assert rows(db, "SELECT is_valid FROM clients WHERE client_key = ?", key) == [(1,)]
    assert len(as_json(keyloft("keys", "list", "--json"))) == 1
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]

    side = Path(data["sideCopy"])
    assert side.parent == workdir
    assert side.name.startswith("keyloft.db.before-restore-")
    assert _mode(side) == 0o600
    assert _dump(side) == later
    assert _leftovers(workdir) == []

    # The trail of the restored database says when, from what and by whom it came back.
    restored = as_json(keyloft("audit", "--deployment", "--json"))["events"][0]
    assert restored["action"] == "database.restore"
    assert restored["actor"]["type"] == "OPERATOR"
    assert restored["changes"]["restoredFrom"] == [None, "before.db"]
    assert restored["changes"]["sideCopy"] == [None, side.name]

    # The restored database serves: the client is back, and its secret still mints tokens.
    (got, token) = asyncio.run(
        _api(
            [
                ("GET", f"/v3/integrations/clients/{key}", None),
                ("POST", "/v3/oauth/token/generate", {"key": key, "secret": secret}),
            ],
            admin,
        )
    )
    assert got[0] == 200
    assert got[1]["data"]["isValid"] is True
    assert token[0] == 200
    assert token[1]["data"]["accessToken"]


def test_restore_asks_first_and_can_skip_the_side_copy(
    keyloft: Invoke, demo: dict[str, Any], workdir: Path
) -> None:
    db = workdir / "keyloft.db"
    assert keyloft("backup", "before.db").exit_code == 0
    assert keyloft("org", "create", "--name", "Later").exit_code == 0
    later = _dump(db)

    refused = keyloft("restore", "before.db", input="n\n")
    _fails(refused, "not confirmed", "Nothing changed")
    assert "orgs     1" in refused.stderr
    refused = keyloft("restore", "before.db", input="")
    _fails(refused, "not confirmed")
    assert _dump(db) == later

    done = keyloft("restore", "before.db", "--no-side-copy", input="y\n")
    assert done.exit_code == 0, done.output
    assert "Restart every running `keyloft serve`" in done.stdout
    assert rows(db, "SELECT name FROM orgs") == [("Demo",)]
    assert [p.name for p in workdir.iterdir() if "before-restore" in p.name] == []


@pytest.fixture
def current(keyloft: Invoke, demo: dict[str, Any], workdir: Path) -> Iterator[list[str]]:
    """The live database's content; the test then checks a refused restore left it alone."""
    db = workdir / "keyloft.db"
    state = _dump(db)
    names = sorted(p.name for p in workdir.iterdir())
    yield state
    assert _dump(db) == state
    assert sorted(p.name for p in workdir.iterdir() if "before-restore" in p.name) == []
    assert _leftovers(workdir) == []
    assert sorted(p.name for p in workdir.iterdir()) == names


def test_restore_refuses_a_file_that_is_not_a_keyloft_database(
    keyloft: Invoke, current: list[str], workdir: Path
) -> None:
    text = workdir / "notes.txt"
    text.write_text("not a database at all, but long enough to have a header\n" * 20)
    _fails(keyloft("restore", str(text), "--yes"), "not a readable SQLite database", "Nothing")

    other = workdir / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    connection.close()
    _fails(keyloft("restore", str(other), "--yes"), "not a Keyloft database")

    _fails(keyloft("restore", str(workdir / "absent.db"), "--yes"), "no backup file")
    _fails(keyloft("restore", "keyloft.db", "--yes"), "is the configured database itself")
    text.unlink()
    other.unlink()


def test_restore_refuses_a_damaged_backup(
    keyloft: Invoke, current: list[str], workdir: Path
) -> None:
    copy = workdir / "copy.db"
    assert keyloft("backup", str(copy)).exit_code == 0
    page_size = rows(copy, "PRAGMA page_size")[0][0]
    pages = copy.stat().st_size // page_size
    assert pages > 4
    with copy.open("r+b") as handle:
        # Garble every page after the first: the header still says SQLite, the b-trees are junk.
        for page in range(1, pages):
            handle.seek(page * page_size + 8)
            handle.write(b"\xa5" * 64)
    result = keyloft("restore", str(copy), "--yes")
    _fails(result, str(copy))
    assert "damaged" in result.stderr or "not a readable SQLite database" in result.stderr
    copy.unlink()


def test_restore_refuses_a_schema_this_version_does_not_know(
    keyloft: Invoke, current: list[str], workdir: Path
) -> None:
    copy = workdir / "copy.db"
    assert keyloft("backup", str(copy)).exit_code == 0
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    connection.close()
    _fails(keyloft("restore", str(copy), "--yes"), "'9999_from_the_future'", "does not know")
    copy.unlink()


def test_restore_refuses_a_backup_the_server_secret_cannot_open(
    keyloft: Invoke, current: list[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = workdir / "copy.db"
    assert keyloft("backup", str(copy)).exit_code == 0
    monkeypatch.setenv("KEYLOFT_SECRET_KEY", "another-server-secret-" + "y" * 30)
    _fails(keyloft("restore", str(copy), "--yes"), "cannot be decrypted", "Nothing changed")
    copy.unlink()


def test_restore_migrates_an_older_backup_forward(
    keyloft: Invoke, demo: dict[str, Any], workdir: Path
) -> None:
    old = workdir / "old.db"
    engine = create_engine(f"sqlite:///{old}")
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
    finally:
        engine.dispose()
    assert rows(old, "SELECT version_num FROM alembic_version") == [("0001",)]

    data = as_json(keyloft("restore", str(old), "--yes", "--json"))
    assert data["migratedFrom"] == "0001"
    assert data["schema"] == migrate.head_revision()
    db = workdir / "keyloft.db"
    assert rows(db, "SELECT version_num FROM alembic_version") == [(migrate.head_revision(),)]
    assert rows(db, "SELECT count(*) FROM orgs") == [(0,)]
    # The backup itself is only read.
    assert rows(old, "SELECT version_num FROM alembic_version") == [("0001",)]
    assert Path(data["sideCopy"]).exists()


def test_restore_onto_a_new_machine(
    keyloft: Invoke, demo: dict[str, Any], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert keyloft("backup", "nightly.db").exit_code == 0
    fresh = workdir / "fresh"
    fresh.mkdir()
    # The server secret travels separately; it goes back beside the database first.
    (fresh / "keyloft.secret").write_bytes((workdir / "keyloft.secret").read_bytes())
    monkeypatch.setenv("KEYLOFT_DATABASE_URL", f"sqlite:///{fresh}/keyloft.db")
    data = as_json(keyloft("restore", "nightly.db", "--yes", "--json"))
    assert data["sideCopy"] is None
    assert data["path"] == str(fresh / "keyloft.db")
    assert _mode(fresh / "keyloft.db") == 0o600
    assert rows(fresh / "keyloft.db", "SELECT id, name FROM orgs") == [(demo["orgId"], "Demo")]
    assert len(as_json(keyloft("keys", "list", "--json"))) == 1


def test_postgresql_is_pointed_to_its_own_tools(
    keyloft: Invoke, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYLOFT_DATABASE_URL", "postgresql://keyloft@db.example:5432/keyloft")
    (workdir / "copy.db").write_bytes(b"")
    backup = keyloft("backup", str(workdir / "out.db"))
    _fails(backup, "PostgreSQL", "pg_dump --format=custom", "docs/deploy.md")
    restore = keyloft("restore", str(workdir / "copy.db"), "--yes")
    _fails(restore, "PostgreSQL", "pg_restore --clean --if-exists")
    assert sorted(p.name for p in workdir.iterdir()) == ["copy.db"]


def test_json_and_text_agree(keyloft: Invoke, demo: dict[str, Any], workdir: Path) -> None:
    text = keyloft("backup", "a.db").stdout
    data = json.loads(keyloft("backup", "b.db", "--json").stdout)
    assert f"schema   {data['schema']}" in text
    assert f"clients  {data['clients']} ({data['activeClients']} active)" in text

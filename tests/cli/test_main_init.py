"""``keyloft init``: schema, owner-only files, the demo org, and idempotent reruns."""

from __future__ import annotations

import stat
from pathlib import Path

from keyloft.domain.passwords import verify_password
from keyloft.storage import migrate
from tests.support.cli import Invoke, as_json, password_hash, rows

TABLES = ["orgs", "principals", "scope_entities", "clients", "client_grants", "signing_keys"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _snapshot(workdir: Path) -> tuple[dict[str, list[tuple[object, ...]]], bytes]:
    db = workdir / "keyloft.db"
    tables = {table: rows(db, f"SELECT * FROM {table} ORDER BY 1") for table in TABLES}
    return tables, (workdir / "keyloft.secret").read_bytes()


def test_init_creates_owner_only_files(keyloft: Invoke, workdir: Path) -> None:
    result = keyloft("init")
    assert result.exit_code == 0, result.output
    assert "initialised" in result.stdout
    for name in ("keyloft.db", "keyloft.secret"):
        assert _mode(workdir / name) == 0o600, name
    for extra in workdir.glob("keyloft.db-*"):
        assert _mode(extra) & 0o077 == 0, extra.name
    assert len((workdir / "keyloft.secret").read_text().strip()) >= 32
    db = workdir / "keyloft.db"
    assert rows(db, "SELECT version_num FROM alembic_version") == [(migrate.head_revision(),)]
    assert len(rows(db, "SELECT kid FROM signing_keys")) == 1
    assert rows(db, "SELECT * FROM orgs") == []


def test_signing_key_is_sealed_at_rest(initialised: Invoke, workdir: Path) -> None:
    ((sealed,),) = rows(workdir / "keyloft.db", "SELECT private_key FROM signing_keys")
    assert sealed.startswith("kl1$aes256gcm$")
    assert "PRIVATE KEY" not in sealed


def test_init_demo_json_credentials_authenticate(keyloft: Invoke, workdir: Path) -> None:
    data = as_json(keyloft("init", "--demo", "--json"))
    assert {"orgId", "admin", "tills"} <= set(data)
    assert set(data["admin"]) == {"username", "password"}
    assert len(data["tills"]) == 2
    db = workdir / "keyloft.db"
    admin = data["admin"]
    assert verify_password(password_hash(db, admin["username"]), admin["password"])
    assert not verify_password(password_hash(db, admin["username"]), admin["password"] + "x")
    assert rows(db, "SELECT org_id, kind FROM principals WHERE code = ?", admin["username"]) == [
        (data["orgId"], "ADMIN_USER")
    ]
    for till in data["tills"]:
        assert set(till) == {"id", "code", "password"}
        assert verify_password(password_hash(db, till["code"]), till["password"])
        assert rows(db, "SELECT id, org_id, kind FROM principals WHERE code = ?", till["code"]) == [
            (till["id"], data["orgId"], "TILL")
        ]
    passwords = [admin["password"], *(t["password"] for t in data["tills"])]
    assert len(set(passwords)) == 3


def test_init_demo_again_changes_nothing(keyloft: Invoke, workdir: Path) -> None:
    first = as_json(keyloft("init", "--demo", "--json"))
    before = _snapshot(workdir)
    result = keyloft("init", "--demo")
    assert result.exit_code == 0, result.output
    assert "nothing changed" in result.stdout
    assert first["admin"]["password"] not in result.output
    assert _snapshot(workdir) == before
    again = as_json(keyloft("init", "--demo", "--json"))
    assert again["changed"] is False
    assert again["orgId"] == first["orgId"]
    assert "admin" not in again
    assert _snapshot(workdir) == before


def test_init_rerun_keeps_the_secret(keyloft: Invoke, workdir: Path) -> None:
    as_json(keyloft("init", "--json"))
    secret = (workdir / "keyloft.secret").read_bytes()
    assert as_json(keyloft("init", "--json"))["changed"] is False
    assert (workdir / "keyloft.secret").read_bytes() == secret


def test_plain_init_then_demo_adds_only_the_demo(keyloft: Invoke, workdir: Path) -> None:
    as_json(keyloft("init", "--json"))
    (kid,) = rows(workdir / "keyloft.db", "SELECT kid FROM signing_keys")
    data = as_json(keyloft("init", "--demo", "--json"))
    assert data["changed"] is True
    assert "admin" in data
    assert rows(workdir / "keyloft.db", "SELECT kid FROM signing_keys") == [kid]

"""``keyloft apply`` and ``keyloft export`` on SQLite and PostgreSQL, beside a running node with
Redis: the clients a file makes mint tokens at once; a change the file makes (a client pruned)
reaches the node over the bus within a second; a second apply writes nothing (no audit
event); an exported org applies back unchanged; and the use case itself, when a client changes
between plan and apply, fails that org alone and leaves the orgs after it, while a refusal the
rehearsal finds leaves every org untouched."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from typer.testing import CliRunner, Result

from keyloft.cli.main import app as cli
from keyloft.config import Settings
from keyloft.domain.audit import Operator
from keyloft.domain.credentials import SecretHasher
from keyloft.manifest.problems import ManifestInvalid
from keyloft.manifest.source import parse_manifest
from keyloft.runtime import Runtime, build_runtime
from keyloft.services.clock import SystemClock
from keyloft.services.keys import ServerKeys
from keyloft.services.manifest_apply import Deployment, ManifestApplication
from keyloft.services.manifest_plan import OrgDefaults
from keyloft.services.ports import Store
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, SERVER_SECRET
from tests.support.redis_servers import DEFAULT_REDIS
from tests.support.waiting import eventually

TOKEN = "/v3/oauth/token/generate"


def _manifest(org: str, *clients: str, ttl: int = 600) -> str:
    listed = "".join(
        f"      - name: {name}\n"
        f"        expirationTokenTime: {ttl}\n"
        f"        defaultTill: {org.lower()}.till\n"
        "        scopes: [{entity: All, permission: READ}]\n"
        for name in clients
    )
    return (
        f"version: 1\norgs:\n  - name: {org}\n    tills: [{{code: {org.lower()}.till}}]\n"
        f"    clients:\n{listed}"
    )


@pytest.fixture
def redis_url(redis: Redis) -> str:
    return os.environ.get("KEYLOFT_TEST_REDIS_URL", DEFAULT_REDIS)


@pytest.fixture
async def node(settings: Settings, database: Database, redis_url: str) -> AsyncIterator[Runtime]:
    runtime = await build_runtime(
        settings.model_copy(update={"redis_url": redis_url}), database=database
    )
    try:
        await eventually(lambda: runtime.bus.healthy, within=5)
        await runtime.copies.settle()
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
def cli_env(
    settings: Settings, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    for name in list(os.environ):
        if name.startswith("KEYLOFT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KEYLOFT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("KEYLOFT_SECRET_KEY", SERVER_SECRET)
    monkeypatch.setenv("KEYLOFT_REDIS_URL", redis_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def keyloft(*args: str) -> Result:
    """Run the CLI off the event loop (it runs one of its own)."""
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args))
    assert "Traceback" not in result.output, result.output
    assert "warning: Redis unreachable" not in result.stderr
    return result


async def apply_json(file: Path, *args: str) -> dict[str, Any]:
    result = await keyloft("apply", "-f", str(file), "--json", *args)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


async def _audit_rows(database: Database) -> int:
    async with database.engine.connect() as connection:
        counted = await connection.scalar(text("SELECT count(*) FROM audit_events"))
    return int(counted or 0)


async def _status(http: httpx.AsyncClient, key: str, secret: str) -> int:
    answer = await http.post(TOKEN, json={"key": key, "secret": secret})
    return answer.status_code


async def test_clients_a_file_makes_and_prunes_reach_a_running_node(
    node: Runtime, database: Database, cli_env: Path
) -> None:
    file = cli_env / "partners.yaml"
    file.write_text(_manifest("Acme", "orders-sync", "billing"))
    made = await apply_json(file)
    credentials = made["orgs"][0]["clients"]
    key, secret = credentials["billing"]["clientKey"], credentials["billing"]["clientSecret"]
    transport = httpx.ASGITransport(app=create_app(runtime=node))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        for _ in range(2):  # the second from the node's copy
            assert await _status(http, key, secret) == 200

        audited = await _audit_rows(database)
        again = await apply_json(file)
        assert again["summary"] == {"create": 0, "update": 0, "delete": 0, "unchanged": 4}
        assert await _audit_rows(database) == audited

        file.write_text(_manifest("Acme", "orders-sync"))
        pruned = await apply_json(file, "--prune")
        assert [c["name"] for c in pruned["orgs"][0]["changes"] if c["action"] == "delete"] == [
            "billing"
        ]

        async def refused() -> bool:
            return await _status(http, key, secret) == 401

        took = await eventually(refused, within=1.0)
        assert took < 1.0


@pytest.mark.usefixtures("node")
async def test_an_export_applies_back_unchanged(database: Database, cli_env: Path) -> None:
    file = cli_env / "partners.yaml"
    file.write_text(
        _manifest("Acme", *(f"partner-{n:02}" for n in range(1, 11))).replace(
            "    tills:", "    maxClients: 10\n    tills:"
        )
    )
    made = await apply_json(file)
    org_id = made["orgs"][0]["id"]  # on PostgreSQL the rehearsal used up an id
    exported = await keyloft("export", "--org", str(org_id), "-o", "exported.yaml")
    assert exported.exit_code == 0, exported.output
    audited = await _audit_rows(database)
    report = await apply_json(cli_env / "exported.yaml", "--prune")
    assert report["summary"] == {"create": 0, "update": 0, "delete": 0, "unchanged": 15}
    assert await _audit_rows(database) == audited


class _Transactions:
    def __init__(self, database: Database) -> None:
        self._database = database

    def __call__(self, *, write: bool) -> AbstractAsyncContextManager[Store]:
        return self._database.unit_of_work(write=write)


def _application(database: Database) -> ManifestApplication:
    return ManifestApplication(
        _Transactions(database),
        Deployment(
            clock=SystemClock(),
            hasher=SecretHasher(ServerKeys.derive(SERVER_SECRET).client_secret_hmac),
            operator=Operator("tester@host"),
            defaults=OrgDefaults(max_clients=15, max_token_ttl=3600, ttl_ceiling=86400),
        ),
    )


async def test_a_client_changed_after_planning_fails_its_org_and_skips_the_rest(
    database: Database,
) -> None:
    application = _application(database)
    setup = "version: 1\norgs:\n" + "".join(
        _manifest(org, "app").split("orgs:\n", 1)[1] for org in ("Acme", "Globex", "Initech")
    )
    await application.apply(await application.plan(_parse(setup), prune=False))
    changed = setup.replace("expirationTokenTime: 600", "expirationTokenTime: 900")
    plan = await application.plan(_parse(changed), prune=False)
    await application.rehearse(plan)
    # Meanwhile someone else changes Globex's client.
    async with database.unit_of_work(write=True) as store:
        await store.session.execute(
            text(
                "UPDATE clients SET version = version + 1 "
                "WHERE org_id = (SELECT id FROM orgs WHERE name = 'Globex')"
            )
        )
    outcomes = await application.apply(plan)
    assert [outcome.status for outcome in outcomes] == ["applied", "failed", "skipped"]
    problem = outcomes[1].problem
    assert problem is not None
    assert problem.path == ("orgs", 1, "clients", 0)
    assert problem.message == "it changed since the plan was made; run apply again"
    async with database.engine.connect() as connection:
        lifetimes = (
            await connection.execute(
                text(
                    "SELECT o.name, c.expiration_token_time FROM clients c "
                    "JOIN orgs o ON o.id = c.org_id ORDER BY o.id"
                )
            )
        ).all()
    assert [tuple(row) for row in lifetimes] == [("Acme", 900), ("Globex", 600), ("Initech", 600)]


async def test_a_refusal_found_in_rehearsal_leaves_every_org_untouched(
    database: Database,
) -> None:
    application = _application(database)
    good = _manifest("Acme", "app")
    bad = (
        _manifest("Globex", "app")
        .split("orgs:\n", 1)[1]
        .replace("{code: globex.till}", "{code: 'globex till'}")
        .replace("defaultTill: globex.till", "defaultTill: globex till")
    )
    plan = await application.plan(_parse(good + bad), prune=False)
    audited = await _audit_rows(database)
    with pytest.raises(ManifestInvalid) as refused:
        await application.rehearse(plan)
    assert refused.value.problems[0].path == ("orgs", 1, "tills", 0, "code")
    assert await _audit_rows(database) == audited
    async with database.engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM orgs")) == 0


async def test_a_one_org_plan_refused_when_applied_changes_nothing(database: Database) -> None:
    application = _application(database)
    bad = _manifest("Acme", "app").replace("{code: acme.till}", "{code: 'acme till'}")
    bad = bad.replace("defaultTill: acme.till", "defaultTill: acme till")
    plan = await application.plan(_parse(bad), prune=False)
    with pytest.raises(ManifestInvalid) as refused:
        await application.carry_out(plan, dry_run=False)  # no rehearsal for one org
    assert refused.value.problems[0].path == ("orgs", 0, "tills", 0, "code")
    assert await _audit_rows(database) == 0
    async with database.engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM orgs")) == 0


def _parse(manifest: str) -> Any:
    return parse_manifest(manifest, "test.yaml").manifest

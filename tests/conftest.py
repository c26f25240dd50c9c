"""Shared fixtures: a migrated store per test, the app over ASGI, orgs with admins and Tills.

Every test that touches the store runs twice: on a fresh SQLite file, and on PostgreSQL in a
database the run creates and drops itself (server from KEYLOFT_TEST_POSTGRES_URL, default the
local one). Without a reachable PostgreSQL the PostgreSQL half is skipped with the reason —
except under CI (CI=true), where it fails instead, so it can never be skipped silently there.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import asyncpg
import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from keyloft.config import Settings
from keyloft.domain import crypto
from keyloft.domain.actors import PrincipalKind
from keyloft.domain.audit import Operator, RequestContext
from keyloft.domain.signing import SigningKey, generate_signing_key
from keyloft.services.clock import SystemClock
from keyloft.services.keys import ServerKeys
from keyloft.services.orgs import OrgService
from keyloft.services.ports import StoredKey
from keyloft.storage import migrate
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.storage.tables import Base
from keyloft.web.app import create_app
from keyloft.web.runtime import Runtime, build_runtime
from tests.unit.fakes import FakeClock

SERVER_SECRET = "test-server-secret-" + "x" * 40
ISSUER = "http://keyloft.test"
BASE_URL = "http://keyloft.test"
OPERATOR = Operator("ops@test-host", RequestContext(request_id="cli-test"))


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    """One RSA key for the whole run: generating 2048-bit keys per test is slow."""
    return generate_signing_key(datetime.now(UTC))


DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
STORES = ("sqlite", "postgresql")


async def _postgres_admin(url: str, statement: str) -> None:
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
        timeout=5,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this run's own on the test PostgreSQL server, dropped at the end."""
    server = os.environ.get("KEYLOFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    name = f"keyloft_test_{secrets.token_hex(4)}"
    try:
        asyncio.run(_postgres_admin(server, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"PostgreSQL not reachable at {make_url(server).render_as_string()}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path}/keyloft.db"


async def _empty_tables(database: Database) -> None:
    async with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(text(f"DELETE FROM {table.name}"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SERVER_SECRET,
        issuer=ISSUER,
        _env_file=None,
    )


@pytest.fixture
async def database(settings: Settings, signing_key: SigningKey) -> AsyncIterator[Database]:
    database = Database(create_engine(settings.database_url))
    await migrate.upgrade(database.engine)
    await _empty_tables(database)
    keys = ServerKeys.derive(SERVER_SECRET)
    sealed = crypto.encrypt(
        keys.signing_key_encryption, signing_key.private_pem(), signing_key.kid.encode()
    )
    async with database.unit_of_work(write=True) as store:
        await store.keys.add(
            StoredKey(signing_key.kid, signing_key.algorithm, sealed, signing_key.created_at),
            signing_key.public_jwk(),
        )
    yield database
    await database.dispose()


@pytest.fixture
async def runtime(settings: Settings, database: Database) -> AsyncIterator[Runtime]:
    rt = await build_runtime(settings, database=database)
    yield rt
    await rt.stop()


@pytest.fixture
def clock(runtime: Runtime) -> FakeClock:
    """The runtime's wall clock, starting now, moved only by the test."""
    runtime.clock = FakeClock(SystemClock().now())
    return runtime.clock


@pytest.fixture
def app(runtime: Runtime) -> Any:
    return create_app(runtime=runtime)


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """For CLI tests: an empty working directory, an environment without any KEYLOFT_
    setting, and the embedded database in that directory."""
    for name in list(os.environ):
        if name.startswith("KEYLOFT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEYLOFT_DATABASE_URL", "sqlite:///./keyloft.db")
    return tmp_path


def client_basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1 client_secret_basic: id and secret form-encoded inside Basic."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def oauth_token(http: httpx.AsyncClient, client: dict[str, Any], scope: str = "") -> str:
    """An RFC 9068 access token for ``client`` from /oauth2/token (client_secret_basic)."""
    form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    answer = await http.post(
        "/oauth2/token",
        data=form,
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@dataclass
class Login:
    id: int
    code: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return basic(self.code, self.password)


@dataclass
class OrgFixture:
    id: int
    name: str
    timezone: str
    admin: Login
    tills: list[Login] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return self.admin.headers


async def make_org(
    database: Database,
    name: str,
    *,
    timezone: str = "Asia/Kolkata",
    max_clients: int = 15,
    max_token_ttl: int = 3600,
) -> OrgFixture:
    """An org with one admin and two Tills, each with a known password."""
    slug = name.lower().replace(" ", "-")
    async with database.unit_of_work(write=True) as store:
        service = OrgService(store, SystemClock(), operator=OPERATOR)
        org = await service.create_org(
            name=name,
            timezone=timezone,
            max_clients=max_clients,
            max_token_ttl=max_token_ttl,
            ttl_ceiling=30 * 24 * 3600,
        )
        admin = await service.add_principal(
            org_id=org.id,
            kind=PrincipalKind.ADMIN_USER,
            code=f"{slug}-admin",
            password=f"{slug}-admin-password",
        )
        tills = [
            await service.add_principal(
                org_id=org.id,
                kind=PrincipalKind.TILL,
                code=f"{slug}.till.{n}",
                name=f"{name} Till {n}",
                password=f"{slug}-till-{n}-password",
            )
            for n in (1, 2)
        ]
    return OrgFixture(
        id=org.id,
        name=name,
        timezone=timezone,
        admin=Login(admin.principal.id, admin.principal.code, admin.password),
        tills=[Login(t.principal.id, t.principal.code, t.password) for t in tills],
    )


@pytest.fixture
async def org(database: Database) -> OrgFixture:
    return await make_org(database, "Acme")


@pytest.fixture
async def other_org(database: Database) -> OrgFixture:
    return await make_org(database, "Globex", timezone="Europe/Berlin")


def client_body(org: OrgFixture, **overrides: Any) -> dict[str, Any]:
    """A valid create body for ``org``; keyword arguments replace fields."""
    body: dict[str, Any] = {
        "name": "integration-1",
        "description": "Sample description",
        "expirationTokenTime": 600,
        "defaultTillId": org.tills[0].id,
        "scopes": [
            {"entityId": 1, "permission": "READWRITE", "resources": [".*v3/targetGroups.*"]},
            {"entityId": 2, "permission": "WRITE", "resources": []},
        ],
    }
    body.update(overrides)
    return body


async def create_client(
    http: httpx.AsyncClient, org: OrgFixture, **overrides: Any
) -> dict[str, Any]:
    response = await http.post(
        "/v3/integrations/clients", json=client_body(org, **overrides), headers=org.auth
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def mint(http: httpx.AsyncClient, key: str, secret: str) -> str:
    response = await http.post("/v3/oauth/token/generate", json={"key": key, "secret": secret})
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["accessToken"]
    return token


QUERY = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
CLIENT_TABLES = re.compile(r"\b(clients|client_grants)\b", re.IGNORECASE)


class Statements:
    """SQL statements the engine ran since the last ``clear``."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, *args: Any) -> None:
        # before_cursor_execute(conn, cursor, statement, parameters, context, executemany)
        self.seen.append(str(args[2]))

    def clear(self) -> None:
        self.seen.clear()

    def queries(self) -> list[str]:
        """Reads and writes only: BEGIN/COMMIT/ROLLBACK are not questions to the store."""
        return [statement for statement in self.seen if QUERY.match(statement)]

    def about_clients(self) -> list[str]:
        return [statement for statement in self.queries() if CLIENT_TABLES.search(statement)]


@pytest.fixture
def statements(database: Database) -> Iterator[Statements]:
    recorder = Statements()
    event.listen(database.engine.sync_engine, "before_cursor_execute", recorder)
    yield recorder
    event.remove(database.engine.sync_engine, "before_cursor_execute", recorder)

"""Rotating the server secret: client secrets re-hashed on use, signing keys re-wrapped.

The store starts under the conftest server secret (OLD): its signing key is sealed under it and
clients created through the ``http`` node are hashed under it. Further nodes share the
database with other secrets, as nodes rolled to a new secret would.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from typer.testing import CliRunner, Result

from keyloft.cli.main import app as cli
from keyloft.config import Settings
from keyloft.domain.credentials import SecretCheck, SecretHasher
from keyloft.runtime import Runtime, build_runtime
from keyloft.services.clock import SystemClock
from keyloft.services.keys import ServerKeys, rewrap_signing_keys
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OPERATOR, SERVER_SECRET, OrgFixture, create_client, mint

OLD = SERVER_SECRET
NEW = "new-server-secret-" + "y" * 40
OTHER = "unrelated-server-secret-" + "z" * 40
TOKEN = "/v3/oauth/token/generate"
SCOPES = "/v3/integrations/scopes"

Start = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def node(settings: Settings, database: Database) -> AsyncIterator[Start]:
    """Start a node on the shared database with ``secret`` and optional ``previous``."""
    started: list[tuple[httpx.AsyncClient, Runtime]] = []

    async def start(secret: str, previous: str | None = None) -> httpx.AsyncClient:
        rt = await build_runtime(rotated(settings, secret, previous), database=database)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(runtime=rt)), base_url=BASE_URL
        )
        started.append((client, rt))
        return client

    yield start
    for client, rt in started:
        await client.aclose()
        await rt.stop()  # the database fixture disposes the engine itself


def rotated(settings: Settings, secret: str, previous: str | None = None) -> Settings:
    return settings.model_copy(
        update={
            "secret_key": SecretStr(secret),
            "previous_secret_keys": SecretStr(previous) if previous is not None else None,
        }
    )


async def stored_hash(database: Database, client_key: str) -> str:
    async with database.engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT secret_hash FROM clients WHERE client_key = :key"), {"key": client_key}
        )
    assert isinstance(found, str)
    return found


async def rewrap(database: Database, secret: str, *previous: str) -> list[str]:
    async with database.unit_of_work(write=True) as store:
        return await rewrap_signing_keys(
            store,
            ServerKeys.derive(secret),
            [ServerKeys.derive(old) for old in previous],
            operator=OPERATOR,
            now=SystemClock().now(),
        )


async def token_call(http: httpx.AsyncClient, key: str, secret: str) -> httpx.Response:
    return await http.post(TOKEN, json={"key": key, "secret": secret})


async def test_client_secret_is_rehashed_under_the_new_secret(
    http: httpx.AsyncClient, node: Start, database: Database, org: OrgFixture
) -> None:
    created = await create_client(http, org)
    key, secret = created["clientKey"], created["clientSecret"]
    await mint(http, key, secret)
    before = await stored_hash(database, key)
    old_hasher = SecretHasher(ServerKeys.derive(OLD).client_secret_hmac)
    assert old_hasher.check(secret, before) is SecretCheck.MATCH
    assert await rewrap(database, NEW, OLD)  # so that NEW-only nodes can start at all

    new_only = await node(NEW)
    refused = await token_call(new_only, key, secret)
    assert refused.status_code == 401, refused.text
    assert refused.json()["errors"][0]["code"] == 3002
    assert await stored_hash(database, key) == before

    rolling = await node(NEW, OLD)
    assert (await token_call(rolling, key, secret)).status_code == 200
    after = await stored_hash(database, key)
    assert after != before
    assert after == SecretHasher(ServerKeys.derive(NEW).client_secret_hmac).hash(secret)
    again = await token_call(rolling, key, secret)
    assert again.status_code == 200, again.text
    assert await stored_hash(database, key) == after

    done = await node(NEW)
    minted = await token_call(done, key, secret)
    assert minted.status_code == 200, minted.text
    wrong = await token_call(done, key, secret + "x")
    assert wrong.status_code == 401, wrong.text


async def test_new_secret_alone_cannot_open_old_signing_keys(
    settings: Settings, database: Database
) -> None:
    with pytest.raises(RuntimeError, match="KEYLOFT_SECRET_KEY"):
        await build_runtime(rotated(settings, NEW), database=database)
    with pytest.raises(RuntimeError, match="KEYLOFT_SECRET_KEY"):
        await build_runtime(rotated(settings, NEW, OTHER), database=database)


async def test_rewrap_moves_signing_keys_and_old_tokens_still_verify(
    http: httpx.AsyncClient,
    node: Start,
    settings: Settings,
    database: Database,
    org: OrgFixture,
) -> None:
    created = await create_client(
        http, org, scopes=[{"entityId": 2, "permission": "READ", "resources": []}]
    )
    token = await mint(http, created["clientKey"], created["clientSecret"])
    old_jwks = (await http.get("/.well-known/jwks.json")).json()

    # Both secrets during the rotation: the key opens under the previous one.
    rolling = await node(NEW, OLD)
    assert (await rolling.get("/.well-known/jwks.json")).json() == old_jwks
    await mint(rolling, created["clientKey"], created["clientSecret"])  # re-hashes the secret

    with pytest.raises(RuntimeError, match="none of the given secrets"):
        await rewrap(database, NEW, OTHER)
    with pytest.raises(RuntimeError, match="KEYLOFT_SECRET_KEY"):
        await build_runtime(rotated(settings, NEW), database=database)

    kids = [key["kid"] for key in old_jwks["keys"]]
    assert await rewrap(database, NEW, OLD) == kids
    assert await rewrap(database, NEW, OLD) == []

    new_only = await node(NEW)
    jwks = (await new_only.get("/.well-known/jwks.json")).json()
    assert jwks == old_jwks
    header = jwt.get_unverified_header(token)
    (published,) = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    claims = jwt.decode(
        token,
        jwt.PyJWK.from_dict(published).key,
        algorithms=["RS256"],
        options={"verify_aud": False},
    )
    assert claims["sub"] == created["clientKey"]
    used = await new_only.get(SCOPES, headers={"X-CAP-API-OAUTH-TOKEN": token})
    assert used.status_code == 200, used.text
    # New tokens from the NEW-only node verify under the same published key.
    fresh = await new_only.post(
        TOKEN, json={"key": created["clientKey"], "secret": created["clientSecret"]}
    )
    assert fresh.status_code == 200, fresh.text
    assert jwt.get_unverified_header(fresh.json()["data"]["accessToken"])["kid"] == header["kid"]

    # The old secret alone now opens nothing.
    with pytest.raises(RuntimeError, match="KEYLOFT_SECRET_KEY"):
        await build_runtime(rotated(settings, OLD), database=database)


# --- the command line ---------------------------------------------------------------------

SECRET_A = "cli-secret-a-" + "a" * 40
SECRET_B = "cli-secret-b-" + "b" * 40
SECRET_C = "cli-secret-c-" + "c" * 40


def run(*args: str, **env: str) -> Result:
    environment: dict[str, str | None] = {
        "KEYLOFT_SECRET_KEY": None,
        "KEYLOFT_PREVIOUS_SECRET_KEYS": None,
    }
    environment.update({f"KEYLOFT_{name.upper()}": value for name, value in env.items()})
    return CliRunner().invoke(cli, list(args), env=environment)


def stored_kids(db: Path) -> list[str]:
    connection = sqlite3.connect(db)
    try:
        return [row[0] for row in connection.execute("SELECT kid FROM signing_keys")]
    finally:
        connection.close()


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_rewrap_moves_keys_once(workdir: Path) -> None:
    assert as_json(run("init", "--json", secret_key=SECRET_A))["changed"] is True
    assert not (workdir / "keyloft.secret").exists()
    kids = stored_kids(workdir / "keyloft.db")
    assert len(kids) == 1

    first = run("secret", "rewrap", "--json", secret_key=SECRET_B, previous_secret_keys=SECRET_A)
    assert as_json(first) == {"rewrapped": kids, "rewrappedWebhookSecrets": []}
    second = run("secret", "rewrap", "--json", secret_key=SECRET_B, previous_secret_keys=SECRET_A)
    assert as_json(second) == {"rewrapped": [], "rewrappedWebhookSecrets": []}
    # The current secret alone suffices now; the old one no longer opens anything.
    assert as_json(run("secret", "rewrap", "--json", secret_key=SECRET_B)) == {
        "rewrapped": [],
        "rewrappedWebhookSecrets": [],
    }
    refused = run("secret", "rewrap", "--json", secret_key=SECRET_A)
    assert refused.exit_code != 0
    assert kids[0] in refused.stderr


def test_cli_rewrap_with_a_wrong_previous_secret_fails_and_changes_nothing(
    workdir: Path,
) -> None:
    assert run("init", secret_key=SECRET_A).exit_code == 0
    (kid,) = stored_kids(workdir / "keyloft.db")

    for previous in (SECRET_C, None):
        env = {"secret_key": SECRET_B}
        if previous is not None:
            env["previous_secret_keys"] = previous
        failed = run("secret", "rewrap", "--json", **env)
        assert failed.exit_code != 0, failed.output
        assert failed.stdout == ""
        assert "error:" in failed.stderr
        assert kid in failed.stderr
        assert "none of the given secrets" in failed.stderr
        assert "Traceback" not in failed.output

    fixed = run("secret", "rewrap", "--json", secret_key=SECRET_B, previous_secret_keys=SECRET_A)
    assert as_json(fixed) == {"rewrapped": [kid], "rewrappedWebhookSecrets": []}


def test_cli_rewrap_without_a_secret_says_how_to_fix_it(workdir: Path) -> None:
    assert run("init", secret_key=SECRET_A).exit_code == 0
    failed = run("secret", "rewrap")
    assert failed.exit_code != 0
    assert "KEYLOFT_SECRET_KEY" in failed.stderr

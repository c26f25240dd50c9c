"""Which answers carry the secret and scopes, what keys and secrets look like, how they are kept."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from keyloft.storage.store import Database
from keyloft.storage.tables import Base, ClientRow
from tests.support.api import OrgFixture, create_client, mint

CLIENTS = "/v3/integrations/clients"
KEY = re.compile(r"[A-Za-z0-9]{25}")
SECRET = re.compile(r"[A-Za-z0-9]{40}")


async def test_only_create_returns_the_secret(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    key = created["clientKey"]
    assert "clientSecret" in created
    assert "scopes" in created

    listed = (await http.get(CLIENTS, headers=org.auth)).json()["data"]
    assert [entry["clientKey"] for entry in listed] == [key]
    assert "clientSecret" not in listed[0]
    assert "scopes" not in listed[0]

    detail = (await http.get(f"{CLIENTS}/{key}", headers=org.auth)).json()["data"]
    assert "clientSecret" not in detail
    assert detail["scopes"] == created["scopes"]

    body: dict[str, Any] = {k: created[k] for k in ("expirationTokenTime", "defaultTillId")}
    body["scopes"] = created["scopes"]
    updated = (await http.put(f"{CLIENTS}/{key}", json=body, headers=org.auth)).json()["data"]
    assert "clientSecret" not in updated
    assert "scopes" in updated

    deleted = (await http.delete(f"{CLIENTS}/{key}", headers=org.auth)).json()["data"]
    assert "clientSecret" not in deleted
    assert "scopes" not in deleted

    everything = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    assert all("clientSecret" not in entry for entry in everything.json()["data"])
    assert created["clientSecret"] not in everything.text


async def test_key_and_secret_format(http: httpx.AsyncClient, org: OrgFixture) -> None:
    made = [await create_client(http, org, name=f"format-{n}") for n in range(3)]
    for client in made:
        assert KEY.fullmatch(client["clientKey"]), client["clientKey"]
        assert SECRET.fullmatch(client["clientSecret"]), client["clientSecret"]
        assert isinstance(client["id"], int)
    assert len({c["clientKey"] for c in made}) == 3
    assert len({c["clientSecret"] for c in made}) == 3
    assert len({c["id"] for c in made}) == 3


async def test_secret_not_stored_in_clear(
    http: httpx.AsyncClient, org: OrgFixture, database: Database
) -> None:
    created = await create_client(http, org)
    secret = created["clientSecret"]
    async with database.engine.connect() as connection:
        rows = (await connection.execute(select(ClientRow.__table__))).mappings().all()
        assert len(rows) == 1
        row = rows[0]
        assert row["client_key"] == created["clientKey"]
        assert row["secret_hash"].startswith("kl1$hmac-sha256$")
        assert re.fullmatch(r"kl1\$hmac-sha256\$[0-9a-f]{64}", row["secret_hash"])
        for column, value in row.items():
            assert secret not in str(value), f"clients.{column} holds the secret"
        for table in Base.metadata.sorted_tables:
            for stored in (await connection.execute(select(table))).all():
                assert all(secret not in str(value) for value in stored), table.name
    assert await mint(http, created["clientKey"], secret)

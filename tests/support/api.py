"""Talking to the app as its callers do: orgs with admins and Tills, clients, tokens, Basic
credentials, and a recorder of the SQL the engine runs."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import httpx

from keyloft.domain.actors import PrincipalKind
from keyloft.domain.audit import Operator, RequestContext
from keyloft.services.clock import SystemClock
from keyloft.services.orgs import OrgService
from keyloft.storage.store import Database

SERVER_SECRET = "test-server-secret-" + "x" * 40
ISSUER = "http://keyloft.test"
BASE_URL = "http://keyloft.test"
OPERATOR = Operator("ops@test-host", RequestContext(request_id="cli-test"))


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

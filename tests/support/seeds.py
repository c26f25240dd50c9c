"""Rows for the storage contract suite, written through the repository ports only."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.clients import Client
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import Grant, Permission, ScopeEntity
from keyloft.services.ports import Store
from keyloft.storage.store import Database

NOW = datetime(2024, 5, 17, 9, 30, 15, 123456, tzinfo=UTC)
SECRET_HASH = "kl1$hmac-sha256$" + "a" * 64
ENTITIES: tuple[tuple[str, str | None], ...] = (
    ("TargetGroups", r".*v3/targetGroups.*"),
    ("All", None),
    ("Transaction", r".*v1\.1/transaction.*"),
)
GRANTS = (
    Grant(1, Permission.READWRITE, (".*v3/targetGroups.*",)),
    Grant(2, Permission.READ),
)


@dataclass(frozen=True)
class Seeded:
    """An org with an admin, two Tills and three scope entities."""

    org: Org
    admin: Principal
    tills: tuple[Principal, ...]
    entities: tuple[ScopeEntity, ...]

    @property
    def till(self) -> Principal:
        return self.tills[0]


def new_key() -> str:
    return secrets.token_hex(12)


async def add_org(
    store: Store,
    name: str = "Acme",
    *,
    timezone: str = "UTC",
    max_clients: int = 15,
    max_token_ttl: int = 3600,
) -> Org:
    return await store.orgs.add(
        name=name,
        timezone=timezone,
        max_clients=max_clients,
        max_token_ttl=max_token_ttl,
        now=NOW,
    )


async def add_principal(
    store: Store,
    org_id: int,
    code: str,
    kind: PrincipalKind = PrincipalKind.TILL,
    *,
    name: str | None = None,
    password_hash: str | None = None,
) -> Principal:
    return await store.principals.add(
        org_id=org_id,
        kind=kind,
        code=code,
        name=name if name is not None else code.title(),
        password_hash=password_hash if password_hash is not None else f"hash-of-{code}",
        now=NOW,
    )


async def seed(database: Database, name: str = "Acme", *, max_clients: int = 15) -> Seeded:
    slug = name.lower().replace(" ", "-")
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store, name, max_clients=max_clients)
        admin = await add_principal(store, org.id, f"{slug}-admin", PrincipalKind.ADMIN_USER)
        tills = (
            await add_principal(store, org.id, f"{slug}.till.1"),
            await add_principal(store, org.id, f"{slug}.till.2"),
        )
        entities = tuple([await store.scopes.add(org.id, n, p) for n, p in ENTITIES])
    return Seeded(org, admin, tills, entities)


async def add_client(
    store: Store,
    seeded: Seeded,
    *,
    name: str = "orders-sync",
    client_key: str | None = None,
    description: str = "Nightly order export",
    ttl: int = 600,
    grants: Sequence[Grant] = GRANTS,
    secret_hash: str = SECRET_HASH,
    now: datetime = NOW,
) -> Client:
    return await store.clients.add(
        org_id=seeded.org.id,
        client_key=client_key if client_key is not None else new_key(),
        secret_hash=secret_hash,
        name=name,
        description=description,
        expiration_token_time=ttl,
        default_till_id=seeded.till.id,
        grants=grants,
        actor_id=seeded.admin.id,
        now=now,
    )


async def make_client(database: Database, seeded: Seeded, **fields: object) -> Client:
    """``add_client`` in a unit of work of its own."""
    async with database.unit_of_work(write=True) as store:
        return await add_client(store, seeded, **fields)  # type: ignore[arg-type]

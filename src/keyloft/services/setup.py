"""First start: schema, server secret, first signing key, and the optional demo org."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from keyloft.config import Settings
from keyloft.domain.actors import PrincipalKind
from keyloft.domain.audit import Operator
from keyloft.domain.signing import DEFAULT_ALGORITHM
from keyloft.services.keys import ServerKeys, ensure_signing_key
from keyloft.services.orgs import NewPrincipal, OrgService
from keyloft.services.ports import Clock, Store
from keyloft.services.server_secret import create_server_secret_file, read_server_secret

DEMO_ORG = "Demo"
DEMO_TIMEZONE = "Asia/Kolkata"
DEMO_ADMIN = "demo-admin"
DEMO_TILLS = (("demo.till.1", "Demo Till 1"), ("demo.till.2", "Demo Till 2"))


@dataclass(slots=True)
class Demo:
    org_id: int
    created: bool
    admin: NewPrincipal | None = None
    tills: list[NewPrincipal] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Initialised:
    """What ``initialise`` did in the database: the first key made, the demo org found or
    made (None unless asked for)."""

    key_created: bool
    demo: Demo | None


def ensure_server_secret(settings: Settings) -> tuple[str, bool]:
    """The server secret, creating the key file when neither it nor the variable exists."""
    existing = read_server_secret(settings)
    if existing is not None:
        return existing, False
    path = settings.resolved_secret_key_file()
    if path is None:
        raise RuntimeError(
            "Set KEYLOFT_SECRET_KEY (or KEYLOFT_SECRET_KEY_FILE) for a non-SQLite database."
        )
    return create_server_secret_file(path), True


def ensure_database_file(settings: Settings) -> None:
    """Create a missing SQLite file owner-only (0600): it holds secret hashes and sealed keys."""
    path = settings.sqlite_path
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


async def ensure_keys(
    store: Store,
    server_secret: str,
    clock: Clock,
    *,
    operator: Operator,
    algorithm: str = DEFAULT_ALGORITHM,
) -> bool:
    """The first signing key, of ``algorithm``, unless there is a key already."""
    return await ensure_signing_key(
        store, ServerKeys.derive(server_secret), clock.now(), operator=operator, algorithm=algorithm
    )


async def ensure_demo(
    store: Store, settings: Settings, clock: Clock, *, operator: Operator
) -> Demo:
    existing = await store.orgs.find_by_name(DEMO_ORG)
    if existing is not None:
        return Demo(org_id=existing.id, created=False)
    orgs = OrgService(store, clock, operator=operator)
    org = await orgs.create_org(
        name=DEMO_ORG,
        timezone=DEMO_TIMEZONE,
        max_clients=settings.default_max_clients,
        max_token_ttl=settings.default_max_token_ttl,
        ttl_ceiling=settings.token_ttl_ceiling,
    )
    admin = await orgs.add_principal(
        org_id=org.id, kind=PrincipalKind.ADMIN_USER, code=DEMO_ADMIN, name="Demo Admin"
    )
    tills = [
        await orgs.add_principal(org_id=org.id, kind=PrincipalKind.TILL, code=code, name=name)
        for code, name in DEMO_TILLS
    ]
    return Demo(org_id=org.id, created=True, admin=admin, tills=tills)


async def initialise(
    store: Store,
    settings: Settings,
    server_secret: str,
    clock: Clock,
    *,
    operator: Operator,
    demo: bool,
) -> Initialised:
    """The first signing key (of the configured algorithm), and the demo org when ``demo``;
    each only if it is missing."""
    key_created = await ensure_keys(
        store, server_secret, clock, operator=operator, algorithm=settings.signing_algorithm
    )
    made = await ensure_demo(store, settings, clock, operator=operator) if demo else None
    return Initialised(key_created, made)

"""An in-memory node for service tests: every unit of work is one ``FakeStore``, the client
cache never holds anything (so every read reaches the store), and the clock is a test's."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from keyloft.cache.mint_counter import MemoryMintCounter
from keyloft.cache.ratelimit import MemoryLimiter
from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.certificate_trust import ClientCertificateTrust
from keyloft.domain.clients import Client
from keyloft.domain.credentials import SecretHasher
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import Grant, Permission, ScopeEntity
from keyloft.domain.signing import KeyRing, SigningKey, generate_signing_key
from keyloft.services.dpop import DpopNonces
from keyloft.services.guard import AttemptGuard
from keyloft.services.key_sets import RemoteKeySets
from keyloft.services.login_cache import LoginCache
from keyloft.services.mint_limits import MintLimits
from keyloft.services.ports import ClientState, Limit
from keyloft.services.replays import StoreReplays
from keyloft.services.usage import UsageLog
from keyloft.services.verified_tokens import VerifiedTokens
from tests.unit.fakes import FakeClock, FakeRemoteJson, FakeStore

ISSUER = "https://keyloft.test"
AUDIENCE = "https://api.test"
SECRET = "the-client-secret"


class NoClientCache:
    """A ``ClientCache`` that holds nothing."""

    def generation(self) -> int:
        return 0

    def by_key(self, client_key: str) -> ClientState | None:
        return None

    def by_id(self, client_id: int) -> ClientState | None:
        return None

    def put(self, state: ClientState, *, read_at: int) -> None:
        return None

    def org_clients(self, org_id: int) -> tuple[Org, tuple[Client, ...]] | None:
        return None

    def put_org_clients(self, org: Org, clients: tuple[Client, ...], *, read_at: int) -> None:
        return None

    def login(self, code: str) -> tuple[Principal, str] | None:
        return None

    def put_login(
        self, code: str, principal: Principal, password_hash: str, *, read_at: int
    ) -> None:
        return None


class AskTheStore:
    """A ``RevocationView`` that never knows: every revocation is asked of the store."""

    def known_revoked(self, jti: str) -> bool | None:
        return None


class FakeNode:
    """Implements ``keyloft.services.node.Node`` in memory; ``units`` records each unit of
    work asked for (True: a write)."""

    def __init__(self, key: SigningKey, clock: FakeClock) -> None:
        self.store = FakeStore()
        self.clock = clock
        self.key_ring = KeyRing([key], clock=clock.now)
        self.hasher = SecretHasher(b"h" * 32)
        self.cache = NoClientCache()
        self.revoked = AskTheStore()
        self.guard = AttemptGuard(MemoryLimiter(), Limit(3, 60), Limit(100, 60))
        self.logins = LoginCache(b"l" * 32, 0)
        self.usage = UsageLog()
        self.mint_limits = MintLimits(MemoryMintCounter())
        self.verified_tokens = VerifiedTokens(wall=lambda: clock.now().timestamp())
        self.remote = FakeRemoteJson()
        self.key_sets = RemoteKeySets(self.remote, wall=lambda: clock.now().timestamp())
        self.replays = StoreReplays(self.transaction)
        self.federation_allow_http = False
        self.dpop_nonces: DpopNonces | None = None
        self.client_trust: ClientCertificateTrust | None = None
        self.units: list[bool] = []

    @property
    def issuer(self) -> str:
        return ISSUER

    @property
    def audience(self) -> str:
        return AUDIENCE

    @asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[FakeStore]:
        self.units.append(write)
        yield self.store


@dataclass
class World:
    node: FakeNode
    org: Org
    till: Principal
    other_till: Principal
    entities: list[ScopeEntity]
    client: Client


async def world(key: SigningKey, *, grants: tuple[Grant, ...] | None = None) -> World:
    """An org with two Tills, three scope entities and one client whose secret is SECRET."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    node = FakeNode(key, clock)
    store, now = node.store, clock.now()
    org = await store.orgs.add(
        name="Acme", timezone="UTC", max_clients=15, max_token_ttl=3600, now=now
    )
    admin = await store.principals.add(
        org_id=org.id,
        kind=PrincipalKind.ADMIN_USER,
        code="admin",
        name="A",
        password_hash="-",
        now=now,
    )
    tills = [
        await store.principals.add(
            org_id=org.id,
            kind=PrincipalKind.TILL,
            code=f"till.{n}",
            name=f"T{n}",
            password_hash="-",
            now=now,
        )
        for n in (1, 2)
    ]
    entities = [
        await store.scopes.add(org.id, name, pattern)
        for name, pattern in (
            ("TargetGroups", ".*v3/targetGroups.*"),
            ("All", None),
            ("Transaction", ".*v3/transactions.*"),
        )
    ]
    held = grants or (
        Grant(entities[0].id, Permission.READWRITE),
        Grant(entities[2].id, Permission.READ),
    )
    client = await store.clients.add(
        org_id=org.id,
        client_key="key-1",
        secret_hash=node.hasher.hash(SECRET),
        name="orders",
        description="",
        expiration_token_time=600,
        default_till_id=tills[0].id,
        grants=held,
        actor_id=admin.id,
        now=now - timedelta(minutes=5),
    )
    return World(node, org, tills[0], tills[1], entities, client)


@functools.lru_cache(maxsize=1)
def signing_key() -> SigningKey:
    """One EdDSA key for every service test (cheap to make, and the same for all)."""
    return generate_signing_key(datetime.now(UTC) - timedelta(days=1), "EdDSA")

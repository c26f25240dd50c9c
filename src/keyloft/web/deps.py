"""Wiring: the process-wide runtime (database, key ring, caches) and per-request dependencies."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from keyloft.cache.bus import LocalBus, RedisBus
from keyloft.cache.client_state import ClientStateCache
from keyloft.cache.ratelimit import MemoryLimiter, RedisLimiter
from keyloft.config import Settings
from keyloft.domain.actors import Actor
from keyloft.domain.credentials import SecretHasher
from keyloft.domain.errors import Unauthenticated, ValidationFailed
from keyloft.domain.signing import KeyRing
from keyloft.services.auth import AuthService
from keyloft.services.client_states import ClientStates
from keyloft.services.clients import ClientService
from keyloft.services.clock import SystemClock
from keyloft.services.guard import AttemptGuard
from keyloft.services.keys import ServerKeys, load_key_ring
from keyloft.services.login_cache import LoginCache
from keyloft.services.ports import Clock, FailureLimiter, Limit, Store
from keyloft.services.server_secret import require_server_secret
from keyloft.services.tokens import TokenService
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.web.client_ip import Network, client_ip, parse_networks


@dataclass(slots=True)
class Runtime:
    settings: Settings
    database: Database
    server_keys: ServerKeys
    key_ring: KeyRing
    logins: LoginCache
    hasher: SecretHasher
    cache: ClientStateCache
    bus: LocalBus
    guard: AttemptGuard
    trusted_proxies: tuple[Network, ...]
    redis: Redis | None = None
    clock: Clock = field(default_factory=SystemClock)

    async def close(self) -> None:
        await self.bus.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.database.dispose()


def _redis(url: str) -> Redis:
    # Short timeouts: a Redis outage must degrade a request by milliseconds, not seconds.
    return Redis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=5
    )


async def build_runtime(settings: Settings, *, database: Database | None = None) -> Runtime:
    """Everything a node needs before it answers; fails with a clear message when unusable."""
    server_keys = ServerKeys.derive(require_server_secret(settings))
    previous = [ServerKeys.derive(secret) for secret in settings.previous_secrets()]
    database = database or Database(
        create_engine(settings.database_url, pool_size=settings.db_pool_size)
    )
    async with database.unit_of_work(write=False) as store:
        key_ring = await load_key_ring(store, server_keys, previous)
    cache = ClientStateCache(ttl=settings.client_cache_seconds)
    redis = _redis(settings.redis_url) if settings.redis_url else None
    limiter: FailureLimiter
    bus: LocalBus
    if redis is not None:
        bus, limiter = RedisBus(cache, redis), RedisLimiter(redis)
    else:
        bus, limiter = LocalBus(cache), MemoryLimiter()
        # Worker processes cannot tell each other about changes without Redis.
        cache.enabled = settings.workers == 1
    window = settings.auth_failure_window_seconds
    runtime = Runtime(
        settings=settings,
        database=database,
        server_keys=server_keys,
        key_ring=key_ring,
        logins=LoginCache(server_keys.login_cache, settings.basic_auth_cache_seconds),
        hasher=SecretHasher(
            server_keys.client_secret_hmac, [old.client_secret_hmac for old in previous]
        ),
        cache=cache,
        bus=bus,
        guard=AttemptGuard(
            limiter,
            per_subject=Limit(settings.auth_failure_limit, window),
            per_address=Limit(settings.auth_failure_ip_limit, window),
        ),
        trusted_proxies=parse_networks(settings.trusted_proxy_list()),
        redis=redis,
    )
    await bus.start()
    return runtime


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


@asynccontextmanager
async def _unit_of_work(rt: Runtime, *, write: bool) -> AsyncIterator[Store]:
    """One transaction per request: committed when the route returns, else rolled back;
    what it changed is announced to every node after the commit."""
    async with rt.database.unit_of_work(write=write) as store:
        yield store
    if store.changes:
        await rt.bus.publish(store.changes)


async def method_store(request: Request, rt: RuntimeDep) -> AsyncIterator[Store]:
    """A write transaction for changing methods, a read transaction otherwise."""
    async with _unit_of_work(rt, write=request.method not in SAFE_METHODS) as store:
        yield store


async def read_store(rt: RuntimeDep) -> AsyncIterator[Store]:
    async with _unit_of_work(rt, write=False) as store:
        yield store


StoreDep = Annotated[Store, Depends(method_store, scope="function")]
ReadStoreDep = Annotated[Store, Depends(read_store, scope="function")]


def caller_address(request: Request, rt: RuntimeDep) -> str:
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), rt.trusted_proxies)


AddressDep = Annotated[str, Depends(caller_address)]


def _basic_credentials(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Malformed Basic credentials.") from None
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        raise Unauthenticated("Malformed Basic credentials.")
    return username, password


async def current_actor(request: Request, rt: RuntimeDep, address: AddressDep) -> Actor:
    """Authenticate by Basic or access token; a token must also be allowed this call.

    This runs in its own short read transaction, so that password hashing never happens
    while the request's write transaction holds a lock.
    """
    headers = request.headers
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    token = headers.get("x-cap-api-oauth-token")
    if scheme == "bearer":
        if token is not None and token != value.strip():
            raise ValidationFailed(
                "Send the access token in one header only.", field="Authorization"
            )
        token = value.strip()
    elif token is not None and scheme == "basic":
        raise ValidationFailed("Use either Basic or a token, not both.", field="Authorization")
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    async with _unit_of_work(rt, write=False) as store:
        auth = AuthService(
            store,
            ClientStates(store, rt.cache),
            rt.key_ring,
            rt.settings.issuer,
            rt.logins,
            rt.guard,
        )
        if token is not None:
            return await auth.token(
                token,
                method=request.method,
                raw_path=raw_path.decode("latin-1"),
                till_type=headers.get("x-cap-api-attribution-entity-type"),
                till_code=headers.get("x-cap-api-attribution-entity-code"),
            )
        if scheme == "basic":
            return await auth.basic(*_basic_credentials(value), address=address)
    raise Unauthenticated()


ActorDep = Annotated[Actor, Depends(current_actor)]


def client_service(rt: RuntimeDep, store: StoreDep) -> ClientService:
    return ClientService(store, rt.hasher, rt.clock)


def token_service(rt: RuntimeDep, store: ReadStoreDep) -> TokenService:
    return TokenService(
        ClientStates(store, rt.cache),
        rt.hasher,
        rt.key_ring,
        rt.settings.issuer,
        rt.clock,
        rt.guard,
    )


async def store_rehashed_secret(rt: Runtime, client_id: int, secret_hash: str) -> None:
    """Persist a secret re-hashed under the current server secret (during a rotation)."""
    async with _unit_of_work(rt, write=True) as store:
        await store.clients.set_secret_hash(client_id, secret_hash)


ClientServiceDep = Annotated[ClientService, Depends(client_service)]
TokenServiceDep = Annotated[TokenService, Depends(token_service)]

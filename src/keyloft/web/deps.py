"""Wiring: the process-wide runtime (database, key ring, caches) and per-request dependencies."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from keyloft.config import Settings
from keyloft.domain.actors import Actor
from keyloft.domain.credentials import SecretHasher
from keyloft.domain.errors import Unauthenticated, ValidationFailed
from keyloft.domain.signing import KeyRing
from keyloft.services.auth import AuthService
from keyloft.services.clients import ClientService
from keyloft.services.clock import SystemClock
from keyloft.services.keys import ServerKeys, load_key_ring
from keyloft.services.login_cache import LoginCache
from keyloft.services.ports import Clock, Store
from keyloft.services.server_secret import require_server_secret
from keyloft.services.tokens import TokenService
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database


@dataclass(slots=True)
class Runtime:
    settings: Settings
    database: Database
    server_keys: ServerKeys
    key_ring: KeyRing
    logins: LoginCache
    hasher: SecretHasher
    clock: Clock = field(default_factory=SystemClock)

    async def close(self) -> None:
        await self.database.dispose()


async def build_runtime(settings: Settings, *, database: Database | None = None) -> Runtime:
    """Everything a node needs before it answers; fails with a clear message when unusable."""
    server_keys = ServerKeys.derive(require_server_secret(settings))
    database = database or Database(
        create_engine(settings.database_url, pool_size=settings.db_pool_size)
    )
    async with database.unit_of_work(write=False) as store:
        key_ring = await load_key_ring(store, server_keys)
    return Runtime(
        settings=settings,
        database=database,
        server_keys=server_keys,
        key_ring=key_ring,
        logins=LoginCache(server_keys.login_cache, settings.basic_auth_cache_seconds),
        hasher=server_keys.secret_hasher(),
    )


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


async def unit_of_work(request: Request, rt: RuntimeDep) -> AsyncIterator[Store]:
    """One transaction per request: committed when the route returns, else rolled back."""
    async with rt.database.unit_of_work(write=request.method not in SAFE_METHODS) as store:
        yield store


StoreDep = Annotated[Store, Depends(unit_of_work, scope="function")]


def _basic_credentials(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Malformed Basic credentials.") from None
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        raise Unauthenticated("Malformed Basic credentials.")
    return username, password


async def current_actor(request: Request, rt: RuntimeDep) -> Actor:
    """Authenticate by Basic or access token, then check the token may make this call.

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
    async with rt.database.unit_of_work(write=False) as store:
        auth = AuthService(store, rt.key_ring, rt.settings.issuer, rt.logins)
        if token is not None:
            actor = await auth.token(
                token,
                till_type=headers.get("x-cap-api-attribution-entity-type"),
                till_code=headers.get("x-cap-api-attribution-entity-code"),
            )
        elif scheme == "basic":
            actor = await auth.basic(*_basic_credentials(value))
        else:
            raise Unauthenticated()
        await auth.authorize(actor, request.method, raw_path.decode("latin-1"))
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


def client_service(rt: RuntimeDep, store: StoreDep) -> ClientService:
    return ClientService(store, rt.hasher, rt.clock)


def token_service(rt: RuntimeDep, store: StoreDep) -> TokenService:
    return TokenService(store, rt.hasher, rt.key_ring, rt.settings.issuer, rt.clock)


ClientServiceDep = Annotated[ClientService, Depends(client_service)]
TokenServiceDep = Annotated[TokenService, Depends(token_service)]

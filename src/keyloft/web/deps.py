"""Wiring: the process-wide runtime (database, key ring, caches) and per-request dependencies.

Every dependency is ``async def``: none blocks, and FastAPI would run a plain ``def`` one in
its thread pool. Stores are lazy: a request's transaction begins at its first query, so a
request that the node's caches answer opens none.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request

from keyloft.domain.actors import Actor
from keyloft.domain.audit import RequestContext
from keyloft.domain.errors import Unauthenticated, ValidationFailed
from keyloft.services.audit import AuditService
from keyloft.services.auth import AuthService
from keyloft.services.check import CheckService
from keyloft.services.client_states import ClientStates
from keyloft.services.clients import ClientService
from keyloft.services.inspect import TokenInspector
from keyloft.services.oauth2 import OAuthService
from keyloft.services.ports import Store
from keyloft.services.tokens import TokenService
from keyloft.web.client_ip import client_ip
from keyloft.web.runtime import Runtime

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(runtime)]


@asynccontextmanager
async def unit_of_work(rt: Runtime, *, write: bool) -> AsyncIterator[Store]:
    """One transaction per request: committed when the route returns, else rolled back;
    what it changed is announced to every node after the commit."""
    async with rt.database.lazy_unit_of_work(write=write) as store:
        yield store
    if store.changes:
        await rt.bus.publish(store.changes)


def caller_address(request: Request, rt: Runtime) -> str:
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), rt.trusted_proxies)


def _basic_credentials(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Malformed Basic credentials.") from None
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        raise Unauthenticated("Malformed Basic credentials.")
    return username, password


async def current_actor(request: Request) -> Actor:
    """Authenticate by Basic or access token; a token must also be allowed this call.

    This runs in its own short read transaction (begun only if the caches cannot answer), so
    that password hashing never happens while the request's write transaction holds a lock.
    """
    rt = runtime_of(request)
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
    async with unit_of_work(rt, write=False) as store:
        auth = AuthService(store, inspector(rt, store), rt.logins, rt.guard, rt.cache)
        if token is not None:
            return await auth.token(
                token,
                method=request.method,
                raw_path=raw_path.decode("latin-1"),
                till_type=headers.get("x-cap-api-attribution-entity-type"),
                till_code=headers.get("x-cap-api-attribution-entity-code"),
            )
        if scheme == "basic":
            address = caller_address(request, rt)
            return await auth.basic(*_basic_credentials(value), address=address)
    raise Unauthenticated()


ActorDep = Annotated[Actor, Depends(current_actor)]


def inspector(rt: Runtime, store: Store) -> TokenInspector:
    return TokenInspector(
        store,
        ClientStates(store, rt.cache),
        rt.key_ring,
        rt.revoked,
        issuer=rt.settings.issuer,
        audience=rt.settings.token_audience,
        verified=rt.verified_tokens,
    )


def request_context(request: Request, address: str) -> RequestContext:
    state = request.scope.get("state") or {}
    return RequestContext(request_id=state.get("request_id"), source_ip=address)


def client_service(rt: Runtime, store: Store, context: RequestContext) -> ClientService:
    return ClientService(store, rt.hasher, rt.clock, context, rt.usage, rt.cache)


# Each dependency below takes only the request: FastAPI resolves a dependency graph per
# request, and a deep one (runtime, address, store, context...) costs more than the call.


async def _client_service(request: Request) -> AsyncIterator[ClientService]:
    """In a write transaction for changing methods, a read transaction otherwise."""
    rt = runtime_of(request)
    context = request_context(request, caller_address(request, rt))
    async with unit_of_work(rt, write=request.method not in SAFE_METHODS) as store:
        yield client_service(rt, store, context)


# The same, for endpoints that take only the request (the direct lane's).
client_service_of = asynccontextmanager(_client_service)


def audit_service(store: Store) -> AuditService:
    return AuditService(store)


async def _audit_service(request: Request) -> AsyncIterator[AuditService]:
    async with unit_of_work(runtime_of(request), write=False) as store:
        yield audit_service(store)


def token_service(rt: Runtime, store: Store) -> TokenService:
    return TokenService(
        ClientStates(store, rt.cache),
        rt.hasher,
        rt.key_ring,
        rt.settings.issuer,
        rt.clock,
        rt.guard,
        rt.usage,
    )


async def store_rehashed_secret(
    rt: Runtime, client_id: int, secret_hash: str, *, replacing: str | None = None
) -> None:
    """Persist a secret re-hashed under the current server secret (during a rotation); with
    ``replacing``, only while that hash is still stored (a client-secret rotation wins)."""
    async with unit_of_work(rt, write=True) as store:
        await store.clients.set_secret_hash(client_id, secret_hash, replacing=replacing)


def oauth_service(rt: Runtime, store: Store) -> OAuthService:
    return OAuthService(
        store,
        token_service(rt, store),
        inspector(rt, store),
        rt.key_ring,
        rt.hasher,
        rt.clock,
        issuer=rt.settings.issuer,
        audience=rt.settings.token_audience,
    )


async def revoking_oauth_service(request: Request) -> AsyncIterator[OAuthService]:
    rt = runtime_of(request)
    async with unit_of_work(rt, write=True) as store:
        yield oauth_service(rt, store)


def check_service(rt: Runtime, store: Store) -> CheckService:
    return CheckService(store, inspector(rt, store))


# scope="function": the transaction commits when the route returns, before the answer is sent.
ClientServiceDep = Annotated[ClientService, Depends(_client_service, scope="function")]
AuditServiceDep = Annotated[AuditService, Depends(_audit_service, scope="function")]
RevokingOAuthServiceDep = Annotated[OAuthService, Depends(revoking_oauth_service, scope="function")]

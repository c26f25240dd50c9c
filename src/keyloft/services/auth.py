"""Who is calling: HTTP Basic (admin user or Till) or a client's access token, and may it?"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable

from keyloft.domain.actors import Actor, Principal, PrincipalKind
from keyloft.domain.errors import AccessDenied, Unauthenticated
from keyloft.domain.passwords import dummy_verify, verify_password
from keyloft.domain.scopes import decide
from keyloft.services.guard import AttemptGuard
from keyloft.services.inspect import TokenInspector
from keyloft.services.login_cache import LoginCache
from keyloft.services.ports import ClientCache, ClientState, Store


class AuthService:
    def __init__(
        self,
        store: Store,
        inspector: TokenInspector,
        logins: LoginCache,
        guard: AttemptGuard,
        cache: ClientCache | None = None,
    ) -> None:
        self._store = store
        self._inspector = inspector
        self._logins = logins
        self._guard = guard
        self._cache = cache

    async def _credentials(self, login: str) -> tuple[Principal, str] | None:
        """The active principal of ``login`` and its password hash, from the node's cache when
        it holds them (dropped on every node when the org's principals change)."""
        if self._cache is None:
            return await self._store.principals.credentials(login)
        found = self._cache.login(login)
        if found is None:
            read_at = self._cache.generation()
            found = await self._store.principals.credentials(login)
            if found is not None:
                self._cache.put_login(login, *found, read_at=read_at)
        return found

    async def basic(self, username: str, password: str, *, address: str | None = None) -> Actor:
        async with self._guard.attempt(self._guard.subjects("login", username, address)):
            found = await self._credentials(username)
            if found is None:
                await asyncio.to_thread(dummy_verify, password)
                raise Unauthenticated("Invalid username or password.")
            principal, password_hash = found
            if not self._logins.verified(username, password, password_hash):
                if not await asyncio.to_thread(verify_password, password_hash, password):
                    raise Unauthenticated("Invalid username or password.")
                self._logins.remember(username, password, password_hash)
        return Actor(principal=principal)

    async def principal_for_session(
        self, login: str, fingerprint: Callable[[str], str], *, expected: str | None
    ) -> tuple[Principal, str] | None:
        """The active principal whose login is ``login``, with ``fingerprint`` of its password
        hash (which ties a browser session to the password it was opened with; the hash itself
        stays here). None when the login is gone, or when the password changed since the
        session's fingerprint ``expected`` was taken; ``expected`` is None only at sign-in,
        right after ``basic`` checked the password."""
        # Always from the store: a console session never outlives its account, even one
        # changed in SQL, which no node is told of.
        found = await self._store.principals.credentials(login)
        if found is None:
            return None
        principal, password_hash = found
        current = fingerprint(password_hash)
        if expected is not None and not hmac.compare_digest(current, expected):
            return None
        return principal, current

    async def token(
        self,
        token: str,
        *,
        method: str,
        raw_path: str,
        till_type: str | None = None,
        till_code: str | None = None,
    ) -> Actor:
        """The Till a valid token acts as, if its scopes allow ``method raw_path``.

        The decision uses what the token carries and what the client holds now, so a deleted
        or narrowed client's tokens lose their access as soon as this node learns of it.
        """
        context = await self._inspector.inspect(token)
        state = context.state
        if not decide(state.entities, context.grants, method, raw_path).allowed:
            raise AccessDenied()
        till = await self._acting_till(state, till_type, till_code)
        return Actor(principal=till, grants=context.grants, client_id=state.client.id)

    async def _acting_till(
        self, state: ClientState, till_type: str | None, till_code: str | None
    ) -> Principal:
        if till_type is None and till_code is None:
            till = state.default_till
        elif (till_type or "").upper() == PrincipalKind.TILL.value and till_code:
            till = await self._store.principals.find_in_org(
                state.client.org_id, till_code, PrincipalKind.TILL
            )
        else:
            raise AccessDenied()
        if till is None:
            raise AccessDenied()
        return till

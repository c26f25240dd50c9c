"""Who is calling the management API: HTTP Basic (an admin user or a Till) or a client's
access token — and, for a token, may it make this call?

Each check runs in a short read transaction of its own, begun only if the node's caches
cannot answer, so password hashing never happens while a write transaction holds a lock.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from keyloft.domain.accounts import session_stamp
from keyloft.domain.actors import Actor, Principal, PrincipalKind
from keyloft.domain.errors import AccessDenied, Unauthenticated
from keyloft.domain.passwords import dummy_verify, verify_password
from keyloft.domain.scopes import decide
from keyloft.services.dpop import Presentation, check_binding
from keyloft.services.node import Node
from keyloft.services.ports import ClientState, Store
from keyloft.services.token_inspection import TokenInspector


# Made for each request: plain slotted dataclasses, cheaper to build than frozen ones.
@dataclass(slots=True, repr=False)
class BasicLogin:
    username: str
    password: str
    address: str | None = None

    def __repr__(self) -> str:
        return f"BasicLogin(username={self.username!r}, address={self.address!r})"


@dataclass(slots=True, repr=False)
class TokenCall:
    """A call made with an access token: the call itself, and the Till it names, if any."""

    token: str
    method: str
    raw_path: str
    till_type: str | None = None
    till_code: str | None = None
    presentation: Presentation = field(default_factory=Presentation)

    def __repr__(self) -> str:
        return f"TokenCall(method={self.method!r}, raw_path={self.raw_path!r})"


class CallerAuthentication:
    def __init__(self, node: Node, inspector: TokenInspector) -> None:
        self._node = node
        self._inspector = inspector

    async def authenticate(self, credentials: BasicLogin | TokenCall) -> Actor:
        if isinstance(credentials, TokenCall):
            return await self.token(credentials)
        return await self.basic(credentials)

    async def basic(self, login: BasicLogin) -> Actor:
        guard, logins = self._node.guard, self._node.logins
        username, password = login.username, login.password
        async with guard.attempt(guard.subjects("login", username, login.address)):
            found = await self._credentials(username)
            if found is None:
                await asyncio.to_thread(dummy_verify, password)
                raise Unauthenticated("Invalid username or password.")
            principal, password_hash = found
            if not logins.verified(username, password, password_hash):
                if not await asyncio.to_thread(verify_password, password_hash, password):
                    raise Unauthenticated("Invalid username or password.")
                logins.remember(username, password, password_hash)
        self._node.usage.note_login(principal.id, self._node.clock.now())
        return Actor(principal=principal)

    async def _credentials(self, login: str) -> tuple[Principal, str] | None:
        """The active principal of ``login`` and its password hash, from the node's cache when
        it holds them (dropped on every node when the org's principals change)."""
        cache = self._node.cache
        found = cache.login(login)
        if found is None:
            read_at = cache.generation()
            async with self._node.transaction(write=False) as store:
                found = await store.principals.credentials(login)
            if found is not None:
                cache.put_login(login, *found, read_at=read_at)
        return found

    async def principal_for_session(
        self, login: str, fingerprint: Callable[[str], str], *, expected: str | None
    ) -> tuple[Principal, str] | None:
        """The active principal whose login is ``login``, with ``fingerprint`` of its session
        stamp: its password hash and session epoch (which tie a browser session to the
        password it was opened with and to the account as it then stood; the hash itself stays
        here). None when the login is gone or disabled, or when the password changed or the
        account was disabled, enabled or deleted since the session's fingerprint ``expected``
        was taken; ``expected`` is None only at sign-in, right after ``basic`` checked the
        password."""
        # Always from the store: a console session never outlives its account, even one
        # changed in SQL, which no node is told of.
        async with self._node.transaction(write=False) as store:
            found = await store.principals.session_credentials(login)
        if found is None:
            return None
        principal, password_hash, epoch = found
        current = fingerprint(session_stamp(password_hash, epoch))
        if expected is not None and not hmac.compare_digest(current, expected):
            return None
        return principal, current

    async def token(self, call: TokenCall) -> Actor:
        """The Till a valid token acts as, if its scopes allow ``method raw_path``.

        The decision uses what the token carries and what the client holds now, so a deleted
        or narrowed client's tokens lose their access as soon as this node learns of it.
        """
        async with self._node.transaction(write=False) as store:
            context = await self._inspector.inspect(store, call.token)
            await check_binding(self._node, context.claims, call.token, call.presentation)
            state = context.state
            if not decide(state.entities, context.grants, call.method, call.raw_path).allowed:
                raise AccessDenied()
            till = await _acting_till(store, state, call.till_type, call.till_code)
        return Actor(principal=till, grants=context.grants, client_id=state.client.id)


async def _acting_till(
    store: Store, state: ClientState, till_type: str | None, till_code: str | None
) -> Principal:
    if till_type is None and till_code is None:
        till = state.default_till
    elif (till_type or "").upper() == PrincipalKind.TILL.value and till_code:
        till = await store.principals.find_in_org(
            state.client.org_id, till_code, PrincipalKind.TILL
        )
    else:
        raise AccessDenied()
    if till is None:
        raise AccessDenied()
    return till

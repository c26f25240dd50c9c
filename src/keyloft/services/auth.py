"""Who is calling: HTTP Basic (admin user or Till) or a client's access token, and may it?"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from keyloft.domain.actors import Actor, Principal, PrincipalKind
from keyloft.domain.errors import AccessDenied, InvalidToken, Unauthenticated
from keyloft.domain.passwords import dummy_verify, verify_password
from keyloft.domain.scopes import Grant, decide, intersect
from keyloft.domain.signing import KeyRing, TokenRejected
from keyloft.domain.tokens import TOKEN_USE, grants_from_claims
from keyloft.services.client_states import ClientStates
from keyloft.services.guard import AttemptGuard
from keyloft.services.login_cache import LoginCache
from keyloft.services.ports import ClientState, Store


def effective_grants(token_grants: Sequence[Grant], current: Sequence[Grant]) -> tuple[Grant, ...]:
    """What the token carries and the client still holds: narrowing a client narrows its
    tokens at once, and widening it never widens tokens already issued."""
    by_entity = {grant.entity_id: grant for grant in current}
    overlap = (
        intersect(grant, by_entity[grant.entity_id])
        for grant in token_grants
        if grant.entity_id in by_entity
    )
    return tuple(grant for grant in overlap if grant is not None)


class AuthService:
    def __init__(
        self,
        store: Store,
        states: ClientStates,
        keys: KeyRing,
        issuer: str,
        logins: LoginCache,
        guard: AttemptGuard,
    ) -> None:
        self._store = store
        self._states = states
        self._keys = keys
        self._issuer = issuer
        self._logins = logins
        self._guard = guard

    async def basic(self, username: str, password: str, *, address: str | None = None) -> Actor:
        subjects = self._guard.subjects("login", username, address)
        await self._guard.check(subjects)
        found = await self._store.principals.credentials(username)
        if found is None:
            await asyncio.to_thread(dummy_verify, password)
            await self._guard.failed(subjects)
            raise Unauthenticated("Invalid username or password.")
        principal, password_hash = found
        if not self._logins.verified(username, password, password_hash):
            if not await asyncio.to_thread(verify_password, password_hash, password):
                await self._guard.failed(subjects)
                raise Unauthenticated("Invalid username or password.")
            self._logins.remember(username, password, password_hash)
        return Actor(principal=principal)

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
        try:
            claims = self._keys.verify(token, issuer=self._issuer)
        except TokenRejected:
            raise InvalidToken() from None
        client_id = claims.get("client_id")
        token_grants = grants_from_claims(claims)
        if claims.get("token_use") != TOKEN_USE or not isinstance(client_id, int):
            raise InvalidToken()
        if token_grants is None:
            raise InvalidToken()
        state = await self._states.by_id(client_id)
        if state is None or not state.client.is_valid:
            raise InvalidToken()
        client = state.client
        if client.client_key != claims.get("sub") or client.org_id != claims.get("org_id"):
            raise InvalidToken()
        grants = effective_grants(token_grants, client.grants)
        if not decide(state.entities, grants, method, raw_path).allowed:
            raise AccessDenied()
        till = await self._acting_till(state, till_type, till_code)
        return Actor(principal=till, grants=grants, client_id=client.id)

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

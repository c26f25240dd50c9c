"""Reading an access token: is it ours, alive, not revoked, and what may it still do?

Both token kinds are read here — v3 tokens (``typ: JWT``, numeric ``client_id``) and RFC 9068
tokens (``typ: at+jwt``, ``client_id`` = the client key) — against the client as it is *now*:
a deleted client's tokens are dead, a narrowed client's tokens are narrowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keyloft.domain.errors import InvalidToken
from keyloft.domain.scopes import Grant, intersect
from keyloft.domain.signing import KeyRing, TokenRejected
from keyloft.domain.tokens import TOKEN_USE, grants_from_claims
from keyloft.services.client_states import ClientStates
from keyloft.services.ports import ClientState, RevocationView, Store


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


@dataclass(frozen=True, slots=True)
class TokenContext:
    typ: str
    claims: dict[str, Any]
    state: ClientState
    grants: tuple[Grant, ...]

    @property
    def oauth(self) -> bool:
        return self.typ == "at+jwt"


class TokenInspector:
    def __init__(
        self,
        store: Store,
        states: ClientStates,
        keys: KeyRing,
        revoked: RevocationView,
        *,
        issuer: str,
        audience: str,
    ) -> None:
        self._store = store
        self._states = states
        self._keys = keys
        self._revoked = revoked
        self._issuer = issuer
        self._audience = audience

    async def inspect(self, token: str) -> TokenContext:
        """The token's context, or InvalidToken for every reason a token can be dead."""
        try:
            typ, claims = self._keys.verify(token, issuer=self._issuer, audience=self._audience)
        except TokenRejected:
            raise InvalidToken() from None
        token_grants = grants_from_claims(claims)
        state = await self._client_of(typ, claims)
        if token_grants is None or state is None or not state.client.is_valid:
            raise InvalidToken()
        client = state.client
        if claims.get("sub") != client.client_key or claims.get("org_id") != client.org_id:
            raise InvalidToken()
        if await self._is_revoked(str(claims["jti"])):
            raise InvalidToken()
        return TokenContext(typ, claims, state, effective_grants(token_grants, client.grants))

    async def _client_of(self, typ: str, claims: dict[str, Any]) -> ClientState | None:
        client_id = claims.get("client_id")
        if typ == "at+jwt":
            return await self._states.by_key(client_id) if isinstance(client_id, str) else None
        if claims.get("token_use") != TOKEN_USE or not isinstance(client_id, int):
            return None
        if isinstance(client_id, bool):
            return None
        return await self._states.by_id(client_id)

    async def _is_revoked(self, jti: str) -> bool:
        known = self._revoked.known_revoked(jti)
        if known is not None:
            return known
        return await self._store.revocations.is_revoked(jti)

"""Reading an access token: is it ours, alive, not revoked, and what may it still do?

Both token kinds are read here — v3 tokens (``typ: JWT``, numeric ``client_id``) and RFC 9068
tokens (``typ: at+jwt``, ``client_id`` = the client key) — against the client as it is *now*:
a deleted client's tokens are dead, a narrowed client's tokens are narrowed.

With the node's ``VerifiedTokens`` cache a token seen before skips the signature check and parsing;
its kid, expiry, client, grants and revocation are still checked on every call.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keyloft.domain.errors import InvalidToken
from keyloft.domain.scopes import Grant, intersect
from keyloft.domain.signing import EXPIRY_LEEWAY, TokenRejected
from keyloft.domain.tokens import TOKEN_USE, grants_from_claims
from keyloft.services.client_states import ClientStates
from keyloft.services.node import Node
from keyloft.services.ports import ClientState, Store
from keyloft.services.verified_tokens import VerifiedToken


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


def _kid(token: str) -> str:
    """The kid of a token that has just verified (so its header is well formed)."""
    header = token.partition(".")[0]
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    return str(decoded["kid"])


@dataclass(frozen=True, slots=True)
class TokenContext:
    typ: str
    claims: dict[str, Any]
    state: ClientState
    grants: tuple[Grant, ...]


class TokenInspector:
    """Reads tokens for a node: its key ring, caches and revocations as they are at each call."""

    def __init__(self, node: Node) -> None:
        self._node = node

    async def inspect(self, store: Store, token: str) -> TokenContext:
        """The token's context, or InvalidToken for every reason a token can be dead."""
        found = self._verify(token)
        typ, claims, token_grants = found.typ, dict(found.claims), found.grants
        state = await self._client_of(ClientStates(store, self._node.cache), typ, claims)
        if token_grants is None or state is None or not state.client.is_valid:
            raise InvalidToken()
        client = state.client
        if claims.get("sub") != client.client_key or claims.get("org_id") != client.org_id:
            raise InvalidToken()
        if await self._is_revoked(store, str(claims["jti"])):
            raise InvalidToken()
        return TokenContext(typ, claims, state, effective_grants(token_grants, client.grants))

    def _verify(self, token: str) -> VerifiedToken:
        node = self._node
        cache, keys = node.verified_tokens, node.key_ring
        issuer, audience = node.issuer, node.audience
        digest = cache.digest(token)
        known = cache.get(digest, issuer=issuer, audience=audience)
        # The kid is asked of the key ring as it is now, as verification would.
        if known is not None and known.kid in keys.kids():
            return known
        try:
            typ, claims = keys.verify(token, issuer=issuer, audience=audience, leeway=EXPIRY_LEEWAY)
        except TokenRejected:
            raise InvalidToken() from None
        verified = VerifiedToken(
            typ, _kid(token), claims, grants_from_claims(claims), issuer, audience
        )
        cache.put(digest, verified)
        return verified

    @staticmethod
    async def _client_of(
        states: ClientStates, typ: str, claims: dict[str, Any]
    ) -> ClientState | None:
        client_id = claims.get("client_id")
        if typ == "at+jwt":
            return await states.by_key(client_id) if isinstance(client_id, str) else None
        if claims.get("token_use") != TOKEN_USE or not isinstance(client_id, int):
            return None
        if isinstance(client_id, bool):
            return None
        return await states.by_id(client_id)

    async def _is_revoked(self, store: Store, jti: str) -> bool:
        known = self._node.revoked.known_revoked(jti)
        if known is not None:
            return known
        return await store.revocations.is_revoked(jti)

"""A client's own tokens: introspection (RFC 7662) and revocation (RFC 7009).

The caller authenticates as at the token endpoint (``client_auth``, dialect ``oauth2``) and
may only see or revoke tokens issued to itself: any other token is answered as inactive, or
quietly not revoked, so a caller learns nothing about another client's tokens.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from keyloft.domain.errors import InvalidToken
from keyloft.domain.oauth import InvalidRequest, scope_string
from keyloft.services import client_auth
from keyloft.services.client_auth import ClientAuthRequest
from keyloft.services.node import Node
from keyloft.services.ports import ClientState, Store
from keyloft.services.token_inspection import TokenContext, TokenInspector

DIALECT = "oauth2"


class Introspection:
    def __init__(self, node: Node, inspector: TokenInspector) -> None:
        self._node = node
        self._inspector = inspector

    async def introspect(self, caller: ClientAuthRequest, token: str | None) -> dict[str, Any]:
        """RFC 7662 §2.2: the claims of an active token of the caller's, else only inactive."""
        async with self._node.transaction(write=False) as store:
            client = await self._authenticate(caller, store)
            if not token:
                raise InvalidRequest("token is required.")
            context = await self._own(store, client, token)
        if context is None:
            return {"active": False}
        return _active(context)

    async def revoke(self, caller: ClientAuthRequest, token: str | None) -> bool:
        """RFC 7009 §2.2: revoke the caller's own live token; anything else is quietly
        ignored. True when a token was revoked."""
        async with self._node.transaction(write=True) as store:
            client = await self._authenticate(caller, store)
            if token is None:
                raise InvalidRequest("token is required.")
            context = await self._own(store, client, token)
            if context is None:
                return False
            expires = datetime.fromtimestamp(int(context.claims["exp"]), UTC)
            await store.revocations.add(str(context.claims["jti"]), client.client.id, expires)
        return True

    async def _authenticate(self, caller: ClientAuthRequest, store: Store) -> ClientState:
        return (await client_auth.authenticate(caller, DIALECT, self._node, store)).state

    async def _own(self, store: Store, caller: ClientState, token: str) -> TokenContext | None:
        """The token's context when it is alive and was issued to ``caller``."""
        try:
            context = await self._inspector.inspect(store, token)
        except InvalidToken:
            return None
        return context if context.state.client.id == caller.client.id else None


def _active(context: TokenContext) -> dict[str, Any]:
    claims = context.claims
    client = context.state.client
    answer: dict[str, Any] = {
        "active": True,
        "scope": scope_string(context.grants, context.state.entities),
        "client_id": client.client_key,
        # A certificate-bound token (cnf x5t#S256) is still a bearer token by its scheme.
        "token_type": "DPoP" if "jkt" in (claims.get("cnf") or {}) else "Bearer",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "sub": claims["sub"],
        "iss": claims["iss"],
        "jti": claims["jti"],
        "org_id": client.org_id,
    }
    if "aud" in claims:
        answer["aud"] = claims["aud"]
    if "cnf" in claims:  # RFC 9449 §6.2, RFC 7800: the key the token is bound to
        answer["cnf"] = claims["cnf"]
    return answer

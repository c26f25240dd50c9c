"""OAuth 2.0 for API clients: client-credentials tokens (RFC 6749 §4.4, RFC 9068),
introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keyloft.domain.credentials import SecretCheck, SecretHasher
from keyloft.domain.errors import InvalidClientCredentials, InvalidToken
from keyloft.domain.oauth import InvalidClient, narrow, scope_string
from keyloft.domain.signing import KeyRing
from keyloft.domain.tokens import oauth_access_claims
from keyloft.services.inspect import TokenContext, TokenInspector
from keyloft.services.ports import ClientState, Clock, Store
from keyloft.services.tokens import TokenService


@dataclass(frozen=True, slots=True)
class OAuthToken:
    access_token: str
    expires_in: int
    scope: str
    client_id: int
    rehash: str | None = None
    replaces: str | None = None
    """The stored hash ``rehash`` replaces (unless a rotation overtook it meanwhile)."""


class OAuthService:
    def __init__(
        self,
        store: Store,
        tokens: TokenService,
        inspector: TokenInspector,
        keys: KeyRing,
        hasher: SecretHasher,
        clock: Clock,
        *,
        issuer: str,
        audience: str,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._inspector = inspector
        self._keys = keys
        self._hasher = hasher
        self._clock = clock
        self._issuer = issuer
        self._audience = audience

    async def authenticate(
        self, client_key: str, secret: str, *, address: str | None
    ) -> tuple[ClientState, SecretCheck]:
        """The calling client; InvalidClient (RFC 6749 §5.2) on any failure."""
        try:
            return await self._tokens.authenticate_client(client_key, secret, address=address)
        except InvalidClientCredentials:
            raise InvalidClient() from None

    async def client_credentials(
        self, client_key: str, secret: str, scope: str | None, *, address: str | None
    ) -> OAuthToken:
        state, verdict = await self.authenticate(client_key, secret, address=address)
        client = state.client
        grants = narrow(client.grants, state.entities, scope)
        granted = scope_string(grants, state.entities)
        now = self._clock.now()
        claims = oauth_access_claims(
            issuer=self._issuer,
            audience=self._audience,
            client=client,
            grants=grants,
            scope=granted,
            entities=state.entities,
            now=now,
        )
        rehash = self._hasher.hash(secret) if verdict is SecretCheck.MATCH_PREVIOUS else None
        token = self._keys.sign(claims, typ="at+jwt")
        self._tokens.used(client, now)
        return OAuthToken(
            token,
            client.expiration_token_time,
            granted,
            client.id,
            rehash,
            state.secret_hash if rehash else None,
        )

    async def _own(self, caller: ClientState, token: str) -> TokenContext | None:
        """The token's context when it is alive and was issued to ``caller``."""
        try:
            context = await self._inspector.inspect(token)
        except InvalidToken:
            return None
        return context if context.state.client.id == caller.client.id else None

    async def introspect(self, caller: ClientState, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2: the claims of an active token of the caller's, else only inactive."""
        context = await self._own(caller, token)
        if context is None:
            return {"active": False}
        claims = context.claims
        client = context.state.client
        answer: dict[str, Any] = {
            "active": True,
            "scope": scope_string(context.grants, context.state.entities),
            "client_id": client.client_key,
            "token_type": "Bearer",
            "exp": claims["exp"],
            "iat": claims["iat"],
            "sub": claims["sub"],
            "iss": claims["iss"],
            "jti": claims["jti"],
            "org_id": client.org_id,
        }
        if "aud" in claims:
            answer["aud"] = claims["aud"]
        return answer

    async def revoke(self, caller: ClientState, token: str) -> bool:
        """RFC 7009: revoke the caller's own live token; anything else is quietly ignored."""
        context = await self._own(caller, token)
        if context is None:
            return False
        expires = datetime.fromtimestamp(int(context.claims["exp"]), UTC)
        await self._store.revocations.add(str(context.claims["jti"]), caller.client.id, expires)
        return True

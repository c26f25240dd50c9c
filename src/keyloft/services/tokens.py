"""Minting access tokens for a client that proves its key and secret (v3 token call)."""

from __future__ import annotations

from dataclasses import dataclass

from keyloft.domain.clients import Client
from keyloft.domain.credentials import SecretHasher
from keyloft.domain.errors import InvalidClientCredentials
from keyloft.domain.signing import KeyRing
from keyloft.domain.tokens import access_claims
from keyloft.services.ports import Clock, Store

# Compared against when the key is unknown, so that case costs what a wrong secret costs.
_NO_SUCH_HASH = "kl1$hmac-sha256$" + "0" * 64


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    ttl_seconds: int
    client: Client


class TokenService:
    def __init__(
        self, store: Store, hasher: SecretHasher, keys: KeyRing, issuer: str, clock: Clock
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._keys = keys
        self._issuer = issuer
        self._clock = clock

    async def authenticate_client(self, client_key: str, secret: str) -> Client:
        """The valid client these credentials prove; one error for every failure."""
        found = await self._store.clients.credentials(client_key)
        stored = found[1] if found else _NO_SUCH_HASH
        matches = self._hasher.verify(secret, stored)
        if found is None or not matches or not found[0].is_valid:
            raise InvalidClientCredentials()
        return found[0]

    async def mint(self, client_key: str, secret: str) -> IssuedToken:
        client = await self.authenticate_client(client_key, secret)
        entities = await self._store.scopes.list(client.org_id)
        claims = access_claims(
            issuer=self._issuer, client=client, entities=entities, now=self._clock.now()
        )
        return IssuedToken(self._keys.sign(claims), client.expiration_token_time, client)

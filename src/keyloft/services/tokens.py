"""Minting access tokens for a client that proves its key and secret (v3 token call)."""

from __future__ import annotations

from dataclasses import dataclass

from keyloft.domain.clients import Client
from keyloft.domain.credentials import SecretCheck, SecretHasher
from keyloft.domain.errors import InvalidClientCredentials
from keyloft.domain.signing import KeyRing
from keyloft.domain.tokens import access_claims
from keyloft.services.client_states import ClientStates
from keyloft.services.guard import AttemptGuard
from keyloft.services.ports import ClientState, Clock

# Compared against when the key is unknown, so that case costs what a wrong secret costs.
_NO_SUCH_HASH = "kl1$hmac-sha256$" + "0" * 64


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    ttl_seconds: int
    client: Client
    rehash: str | None = None
    """The secret's hash under the current server secret, when it matched a retired one."""


class TokenService:
    def __init__(
        self,
        states: ClientStates,
        hasher: SecretHasher,
        keys: KeyRing,
        issuer: str,
        clock: Clock,
        guard: AttemptGuard,
    ) -> None:
        self._states = states
        self._hasher = hasher
        self._keys = keys
        self._issuer = issuer
        self._clock = clock
        self._guard = guard

    async def authenticate_client(
        self, client_key: str, secret: str, *, address: str | None = None
    ) -> tuple[ClientState, SecretCheck]:
        """The valid client these credentials prove; one error for every failure."""
        async with self._guard.attempt(self._guard.subjects("client", client_key, address)):
            state = await self._states.by_key(client_key)
            verdict = self._hasher.check(secret, state.secret_hash if state else _NO_SUCH_HASH)
            if state is None or verdict is SecretCheck.NO_MATCH or not state.client.is_valid:
                raise InvalidClientCredentials()
        return state, verdict

    async def mint(
        self, client_key: str, secret: str, *, address: str | None = None
    ) -> IssuedToken:
        state, verdict = await self.authenticate_client(client_key, secret, address=address)
        claims = access_claims(
            issuer=self._issuer,
            client=state.client,
            entities=state.entities,
            now=self._clock.now(),
        )
        rehash = self._hasher.hash(secret) if verdict is SecretCheck.MATCH_PREVIOUS else None
        return IssuedToken(
            self._keys.sign(claims), state.client.expiration_token_time, state.client, rehash
        )

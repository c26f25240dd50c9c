"""Minting access tokens for a client that proves its key and secret (v3 token call)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from keyloft.domain.clients import Client
from keyloft.domain.credentials import SecretCheck, SecretHasher
from keyloft.domain.errors import InvalidClientCredentials
from keyloft.domain.signing import KeyRing
from keyloft.domain.tokens import access_claims
from keyloft.services.client_states import ClientStates
from keyloft.services.guard import AttemptGuard
from keyloft.services.ports import ClientState, Clock
from keyloft.services.usage import UsageLog

# Compared against when the key is unknown, so that case costs what a wrong secret costs.
_NO_SUCH_HASH = "kl1$hmac-sha256$" + "0" * 64


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    ttl_seconds: int
    client: Client
    rehash: str | None = None
    """The secret's hash under the current server secret, when it matched a retired one."""
    replaces: str | None = None
    """The stored hash ``rehash`` replaces (unless a rotation overtook it meanwhile)."""


class TokenService:
    def __init__(
        self,
        states: ClientStates,
        hasher: SecretHasher,
        keys: KeyRing,
        issuer: str,
        clock: Clock,
        guard: AttemptGuard,
        usage: UsageLog | None = None,
    ) -> None:
        self._states = states
        self._hasher = hasher
        self._keys = keys
        self._issuer = issuer
        self._clock = clock
        self._guard = guard
        self._usage = usage

    async def authenticate_client(
        self, client_key: str, secret: str, *, address: str | None = None
    ) -> tuple[ClientState, SecretCheck]:
        """The valid client these credentials prove; one error for every failure.

        The secret a rotation replaced is accepted until its grace period ends; it matches as
        ``MATCH`` (it is never re-hashed into the current secret's place)."""
        async with self._guard.attempt(self._guard.subjects("client", client_key, address)):
            state = await self._states.by_key(client_key)
            verdict = self._check(secret, state)
            if state is None or verdict is SecretCheck.NO_MATCH or not state.client.is_valid:
                raise InvalidClientCredentials()
        return state, verdict

    def _check(self, secret: str, state: ClientState | None) -> SecretCheck:
        """Both hashes are always compared, so the time taken tells nothing."""
        secrets = state.secrets if state else None
        previous = secrets.previous_at(self._clock.now()) if secrets else None
        current = self._hasher.check(secret, secrets.current if secrets else _NO_SUCH_HASH)
        earlier = self._hasher.check(secret, previous or _NO_SUCH_HASH)
        if current is not SecretCheck.NO_MATCH:
            return current
        return SecretCheck.NO_MATCH if earlier is SecretCheck.NO_MATCH else SecretCheck.MATCH

    def used(self, client: Client, at: datetime) -> None:
        """Note that a token was minted for ``client`` (written later, in a batch)."""
        if self._usage is not None:
            self._usage.note(client.id, at)

    async def mint(
        self, client_key: str, secret: str, *, address: str | None = None
    ) -> IssuedToken:
        state, verdict = await self.authenticate_client(client_key, secret, address=address)
        now = self._clock.now()
        claims = access_claims(
            issuer=self._issuer, client=state.client, entities=state.entities, now=now
        )
        rehash = self._hasher.hash(secret) if verdict is SecretCheck.MATCH_PREVIOUS else None
        token = self._keys.sign(claims)
        self.used(state.client, now)
        return IssuedToken(
            token,
            state.client.expiration_token_time,
            state.client,
            rehash,
            state.secret_hash if rehash else None,
        )

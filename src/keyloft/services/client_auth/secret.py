"""Checking a client's key and secret against its stored hashes, guarded against guessing.

Shared by every secret-based method. An unknown key, a wrong secret and a deleted client fail
alike, in the same time: both hashes (the current secret's and the one in its grace period)
are always compared, against a dummy hash when there is none.
"""

from __future__ import annotations

from keyloft.domain.credentials import SecretCheck
from keyloft.domain.errors import InvalidClientCredentials
from keyloft.services.client_auth.request import AuthenticatedClient, SecretUpgrade
from keyloft.services.client_states import ClientStates
from keyloft.services.node import Node
from keyloft.services.ports import ClientState, Store

_NO_SUCH_HASH = "kl1$hmac-sha256$" + "0" * 64


async def verify_secret(
    node: Node, store: Store, client_key: str, secret: str, *, method: str, address: str | None
) -> AuthenticatedClient:
    """The valid client these credentials prove; ``InvalidClientCredentials`` otherwise.

    The secret a rotation replaced is accepted until its grace period ends; it matches as
    ``MATCH`` (it is never re-hashed into the current secret's place)."""
    guard = node.guard
    async with guard.attempt(guard.subjects("client", client_key, address)):
        state = await ClientStates(store, node.cache).by_key(client_key)
        verdict = _compare(node, secret, state)
        if state is None or verdict is SecretCheck.NO_MATCH or not state.client.is_valid:
            failed = InvalidClientCredentials()
            if state is not None:
                failed.counted_as = (state.client.org_id, state.client.id)
            raise failed
    upgrade = None
    if verdict is SecretCheck.MATCH_PREVIOUS and state.secret_hash is not None:
        upgrade = SecretUpgrade(node.hasher.hash(secret), state.secret_hash)
    return AuthenticatedClient(state, method, upgrade)


def _compare(node: Node, secret: str, state: ClientState | None) -> SecretCheck:
    hasher = node.hasher
    secrets = state.secrets if state else None
    previous = secrets.previous_at(node.clock.now()) if secrets else None
    current = hasher.check(secret, (secrets.current if secrets else None) or _NO_SUCH_HASH)
    earlier = hasher.check(secret, previous or _NO_SUCH_HASH)
    if current is not SecretCheck.NO_MATCH:
        return current
    return SecretCheck.NO_MATCH if earlier is SecretCheck.NO_MATCH else SecretCheck.MATCH

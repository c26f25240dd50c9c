"""Read-through access to client state for the hot paths: the node's cache, else the store."""

from __future__ import annotations

from keyloft.domain.actors import PrincipalKind
from keyloft.domain.clients import Client
from keyloft.services.ports import ClientCache, ClientSecrets, ClientState, Store


class ClientStates:
    def __init__(self, store: Store, cache: ClientCache) -> None:
        self._store = store
        self._cache = cache

    async def by_key(self, client_key: str) -> ClientState | None:
        cached = self._cache.by_key(client_key)
        if cached is not None:
            return cached
        read_at = self._cache.generation()
        found = await self._store.clients.credentials(client_key)
        return await self._remember(found, read_at)

    async def by_id(self, client_id: int) -> ClientState | None:
        cached = self._cache.by_id(client_id)
        if cached is not None:
            return cached
        read_at = self._cache.generation()
        found = await self._store.clients.credentials_by_id(client_id)
        return await self._remember(found, read_at)

    async def _remember(
        self, found: tuple[Client, ClientSecrets] | None, read_at: int
    ) -> ClientState | None:
        if found is None:
            return None
        client, secrets = found
        entities = tuple(await self._store.scopes.list(client.org_id))
        till = await self._store.principals.get_in_org(
            client.org_id, client.default_till_id, PrincipalKind.TILL
        )
        state = ClientState(
            client,
            secrets.current,
            entities,
            till,
            previous_secret_hash=secrets.previous,
            previous_secret_expires_at=secrets.previous_expires_at,
            org=await self._store.orgs.get(client.org_id),
        )
        self._cache.put(state, read_at=read_at)
        return state

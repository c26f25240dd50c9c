"""An org as a manifest describes it, read from the store: its settings, scope entities, Tills
(disabled ones too: they exist) and active API clients, with the codes of the Tills those
clients act as."""

from __future__ import annotations

from dataclasses import dataclass

from keyloft.domain.accounts import Account
from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.clients import Client
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import ScopeEntity
from keyloft.services.ports import Store


@dataclass(frozen=True, slots=True)
class OrgState:
    org: Org
    entities: tuple[ScopeEntity, ...]
    tills: tuple[Account, ...]
    """Not deleted, active or not, in id order."""
    clients: tuple[Client, ...]
    """Active clients, in creation order."""
    principals: dict[int, Principal]
    """Every Till of ``tills`` and every principal a client acts as, by id."""

    def till_code(self, till_id: int) -> str:
        principal = self.principals.get(till_id)
        return principal.code if principal is not None else str(till_id)

    def entity_name(self, entity_id: int) -> str:
        return next((e.name for e in self.entities if e.id == entity_id), str(entity_id))


async def read_org_state(store: Store, org: Org) -> OrgState:
    tills = tuple(await store.principals.accounts(org.id, PrincipalKind.TILL))
    clients = tuple(await store.clients.list(org.id, include_invalid=False))
    principals = {account.principal.id: account.principal for account in tills}
    for till_id in {client.default_till_id for client in clients} - set(principals):
        found = await store.principals.get(till_id)  # a deleted Till: kept by its clients
        if found is not None:
            principals[till_id] = found
    return OrgState(
        org=org,
        entities=tuple(await store.scopes.list(org.id)),
        tills=tills,
        clients=clients,
        principals=principals,
    )

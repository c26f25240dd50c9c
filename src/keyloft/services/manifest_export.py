"""An org as a manifest: what ``keyloft export`` writes, and what ``apply`` compares a file
with (a client's current state is read back as the spec that would declare it). Nothing
secret is in it: clients have keys and rules, never their secret or its hash."""

from __future__ import annotations

from keyloft.domain.certificate_names import name_fields
from keyloft.domain.client_keys import jwks_document
from keyloft.domain.clients import Client
from keyloft.domain.errors import NotFound
from keyloft.manifest.model import (
    ClientSpec,
    FederatedCredentialSpec,
    Manifest,
    OrgSpec,
    ScopeEntitySpec,
    ScopeSpec,
    TillSpec,
)
from keyloft.services.manifest_state import OrgState, read_org_state
from keyloft.services.ports import Store


def client_spec(client: Client, state: OrgState) -> ClientSpec:
    """The spec that declares ``client`` as it is."""
    credentials = client.credentials
    return ClientSpec.model_validate(
        {
            "name": client.name,
            "description": client.description,
            "expirationTokenTime": client.expiration_token_time,
            "defaultTill": state.till_code(client.default_till_id),
            "scopes": [
                ScopeSpec(
                    entity=state.entity_name(grant.entity_id),
                    permission=grant.permission.value,
                    resources=list(grant.resources),
                )
                for grant in client.grants
            ],
            "tokenEndpointAuthMethod": client.auth_method,
            "jwks": jwks_document(credentials.jwks) if credentials.jwks else None,
            "jwksUri": credentials.jwks_uri,
            "federatedCredentials": [
                FederatedCredentialSpec.model_validate(rule.as_dict())
                for rule in credentials.federated
            ],
            "dpopBoundAccessTokens": client.dpop_bound,
            "tlsClientCertificateBoundAccessTokens": client.certificate_bound,
            **name_fields(credentials.tls_name),
        }
    )


def org_spec(state: OrgState) -> OrgSpec:
    """The org with every entity, Till and active client it has."""
    org = state.org
    return OrgSpec(
        name=org.name,
        timezone=org.timezone,
        maxClients=org.max_clients,
        maxTokenTtl=org.max_token_ttl,
        scopeEntities=[
            ScopeEntitySpec(name=entity.name, pattern=entity.area_pattern)
            for entity in state.entities
        ],
        tills=[
            TillSpec(
                code=account.principal.code,
                name=account.principal.name
                if account.principal.name != account.principal.code
                else None,
            )
            for account in state.tills
        ],
        clients=[client_spec(client, state) for client in state.clients],
    )


async def export_org(store: Store, org_id: int) -> Manifest:
    """The manifest of one org; ``NotFound`` for an unknown one."""
    org = await store.orgs.get(org_id)
    if org is None:
        raise NotFound(f"No org with id {org_id}.")
    return Manifest(version=1, orgs=[org_spec(await read_org_state(store, org))])

"""The console's pages about an org's API clients: the list (filtered by text), the form for a
new client, a client's page (its credentials, its edit form and history) and the confirmation of
its deletion.
Each reads what it shows in one call on the console's services."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from keyloft.domain.clients import etag
from keyloft.services.console_views import NoSuchClient
from keyloft.web.console import rendering
from keyloft.web.console.dependencies import ConsoleDep, SignedInDep
from keyloft.web.console.pages import access_rows, till_label
from keyloft.web.console.routing import console_router
from keyloft.web.wiring import ServicesDep

router = console_router()
MAX_FILTER = 100
NOTICES = {
    "saved": "Changes saved.",
    "deleted": "The client was deleted.",
    "grace-ended": "Only the newest secret works now.",
    "key-added": "The key was added.",
    "key-removed": "The key was removed.",
    "jwks-uri-saved": "The key set URL was saved.",
    "jwks-uri-removed": "The key set URL was removed.",
    "rule-added": "The federated credential was added.",
    "rule-removed": "The federated credential was removed.",
    "dpop-on": (
        "Its tokens must now be DPoP-bound: token requests without a DPoP proof are refused."
    ),
    "dpop-off": "Its tokens need no longer be DPoP-bound.",
    "certificate-on": (
        "Its tokens are now bound to its TLS certificate: they work only with that certificate."
    ),
    "certificate-off": "Its tokens are no longer bound to its TLS certificate.",
    "self-signed-tls": (
        "The client now authenticates with self_signed_tls_client_auth, by its TLS certificate "
        "registered as one of its keys: a secret no longer works."
    ),
    "tls-client-auth": (
        "The client now authenticates with tls_client_auth: only a TLS certificate issued by a CA "
        "this deployment trusts and carrying the name shown proves it."
    ),
    "tls-name-saved": "The name its certificate must carry was saved.",
    "governance-saved": "The allowed addresses and the mint limit were saved.",
    "private-key-jwt": (
        "The client now authenticates with private_key_jwt: its secret no longer works."
    ),
}


@router.get("/clients")
async def clients_page(
    request: Request,
    con: ConsoleDep,
    services: ServicesDep,
    who: SignedInDep,
    q: str = "",
    deleted: str = "",
) -> Response:
    show_deleted = deleted == "1"
    query = q.strip()[:MAX_FILTER]
    view = await services.console.clients_page(who.actor, deleted=show_deleted, text=query)
    tills = {till.id: till for till in view.tills}
    now = con.now()
    return rendering.page(
        request,
        con,
        who,
        view.org,
        "clients.html",
        title="API clients",
        wide=True,
        clients=view.clients,
        total=view.total,
        query=query,
        show_deleted=show_deleted,
        rows={client.client_key: access_rows(client, view.entities) for client in view.clients},
        till_label=lambda till_id: till_label(till_id, tills),
        secret_state=lambda client: rendering.secret_state(client, now),
    )


@router.get("/clients/new")
async def new_client_form(
    request: Request, con: ConsoleDep, services: ServicesDep, who: SignedInDep
) -> Response:
    choices = await services.console.new_client_form(who.actor)
    first = "" if choices.first_till is None else str(choices.first_till)
    form = rendering.blank_form(rendering.ids_of(choices.entities), first)
    return rendering.new_client_page(request, con, who, choices, form)


@router.get("/clients/{client_key}")
async def client_page(
    request: Request,
    con: ConsoleDep,
    services: ServicesDep,
    who: SignedInDep,
    client_key: str,
    done: str = "",
) -> Response:
    view = await services.console.client_page(who.actor, client_key)
    if isinstance(view, NoSuchClient):
        return rendering.no_such_client(request, con, who, view)
    return rendering.client_page(request, con, who, view, notice=NOTICES.get(done))


@router.get("/clients/{client_key}/delete")
async def delete_confirmation(
    request: Request, con: ConsoleDep, services: ServicesDep, who: SignedInDep, client_key: str
) -> Response:
    found = await services.console.deletion_page(who.actor, client_key)
    if isinstance(found, NoSuchClient):
        return rendering.no_such_client(request, con, who, found)
    client = found.client
    return rendering.page(
        request,
        con,
        who,
        found.org,
        "delete.html",
        title=f"Delete {client.name}",
        client=client,
        etag=etag(client),
    )

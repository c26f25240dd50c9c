"""The client page's forms that change how a client proves itself: add or remove a public key,
set or remove its key set URL, add or remove a federated credential, switch its method, and
change the name a tls_client_auth client's certificate carries.

Each is one guarded POST and one update of the client through the console's services, which
keeps everything else as the client holds it (one audited ``client.update``). Done, it goes back
to the client's page saying so; a switch to client_secret_basic answers the new secret, once. A
change the rules refuse shows the page again with why, beside the form field it is about.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from keyloft.domain.clients import PRIVATE_KEY_JWT, SELF_SIGNED_TLS, TLS_CLIENT_AUTH
from keyloft.services.console_views import NoSuchClient, NotChanged
from keyloft.web.caller import request_context
from keyloft.web.console import credential_forms, rendering
from keyloft.web.console.credential_forms import (
    JWK,
    JWKS_URI,
    METHOD,
    TLS_NAME,
    TLS_VALUE,
    CredentialChange,
    CredentialForm,
    RuleFields,
)
from keyloft.web.console.dependencies import Console, ConsoleDep, GuardedPost, GuardedPostDep
from keyloft.web.console.pages import redirect
from keyloft.web.console.routing import console_router
from keyloft.web.wiring import ServicesDep

router = console_router()


async def _change(
    request: Request,
    con: Console,
    services: ServicesDep,
    post: GuardedPost,
    client_key: str,
    change: CredentialChange,
    done: str,
) -> Response:
    answer = await services.console.change_credentials(
        post.actor, client_key, change.read, request_context(request), if_match=post.etag
    )
    if isinstance(answer, NoSuchClient):
        return rendering.no_such_client(request, con, post, answer)
    if isinstance(answer, NotChanged):
        error = answer.error
        typed = CredentialForm.from_fields(post.fields, CredentialForm.of(answer.page.client))
        errors, problem = rendering.refusal(*change.explain(error), typed)
        return rendering.client_page(
            request,
            con,
            post,
            answer.page,
            credential_form=typed,
            errors=errors,
            problem=problem,
            status=rendering.status_of(error),
        )
    if answer.secret is not None:
        return rendering.secret_page(request, con, post, answer, created=False, switched=True)
    return redirect(f"{rendering.client_path(client_key)}?done={done}")


@router.post("/clients/{client_key}/keys")
async def add_key(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    change = credential_forms.add_keys(post.fields.get(JWK, ""))
    return await _change(request, con, services, post, client_key, change, "key-added")


@router.post("/clients/{client_key}/keys/remove")
async def remove_key(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    change = credential_forms.remove_key(post.fields.get("thumbprint", ""))
    return await _change(request, con, services, post, client_key, change, "key-removed")


@router.post("/clients/{client_key}/jwks-uri")
async def set_jwks_uri(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    uri = post.fields.get(JWKS_URI, "").strip()
    change = credential_forms.set_jwks_uri(uri)
    done = "jwks-uri-saved" if uri else "jwks-uri-removed"
    return await _change(request, con, services, post, client_key, change, done)


@router.post("/clients/{client_key}/federated")
async def add_rule(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    change = credential_forms.add_rule(RuleFields.from_fields(post.fields))
    return await _change(request, con, services, post, client_key, change, "rule-added")


@router.post("/clients/{client_key}/federated/remove")
async def remove_rule(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    change = credential_forms.remove_rule(post.fields.get("name", ""))
    return await _change(request, con, services, post, client_key, change, "rule-removed")


@router.post("/clients/{client_key}/method")
async def switch_method(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    method = post.fields.get(METHOD, "").strip()
    change = credential_forms.switch_method(
        method, post.fields.get(TLS_NAME, "").strip(), post.fields.get(TLS_VALUE, "")
    )
    # A switch to client_secret_basic answers its secret; only the other way comes back here.
    done = {
        PRIVATE_KEY_JWT: "private-key-jwt",
        SELF_SIGNED_TLS: "self-signed-tls",
        TLS_CLIENT_AUTH: "tls-client-auth",
    }.get(method, "saved")
    return await _change(request, con, services, post, client_key, change, done)


@router.post("/clients/{client_key}/tls-name")
async def set_tls_name(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    change = credential_forms.set_tls_name(
        post.fields.get(TLS_NAME, "").strip(), post.fields.get(TLS_VALUE, "")
    )
    return await _change(request, con, services, post, client_key, change, "tls-name-saved")

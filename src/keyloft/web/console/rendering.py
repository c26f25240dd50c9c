"""Rendering the signed-in console's pages from what the console's services answer: the
create and edit forms (as posted or as the client stands), a client's page with its
credentials, the one-time secret page (or, for a client without a secret, the page saying so),
and how a refused change is shown (by field, or for the whole form)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from keyloft.domain.actors import Principal
from keyloft.domain.clients import SELF_SIGNED_TLS, TLS_CLIENT_AUTH, Client, etag
from keyloft.domain.errors import KeyloftError
from keyloft.domain.governance import secret_expired, secret_expires_soon
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import ScopeEntity
from keyloft.services.client_admin import ClientAnswer
from keyloft.services.console_views import HISTORY, ClientView, FormChoices, NoSuchClient
from keyloft.web.console import credential_pages
from keyloft.web.console.credential_forms import (
    JWK,
    METHOD_CHOICES,
    TLS_NAME_CHOICES,
    TLS_NAME_LABELS,
    CredentialForm,
)
from keyloft.web.console.dependencies import Console, SignedIn
from keyloft.web.console.forms import ACCESS_CHOICES, NO_ACCESS, ClientForm
from keyloft.web.console.pages import (
    CLIENTS,
    access_rows,
    history_rows,
    till_label,
    till_options,
)
from keyloft.web.console.usage_charts import client_charts
from keyloft.web.errors import STATUS


def status_of(error: KeyloftError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)


KEY_NOT_KEPT = "The pasted text was not kept: it held a private key. Paste the public key only."


def refusal(
    field: str | None, message: str, typed: CredentialForm
) -> tuple[dict[str, str], str | None]:
    """A refusal as errors by form field, or as the message for the whole form when it belongs
    to no field. A pasted private key is never sent back, whatever the refusal was about."""
    errors = {field: message} if field is not None else {}
    if typed.forget_private_key():
        errors[JWK] = f"{errors[JWK]} {KEY_NOT_KEPT}" if JWK in errors else KEY_NOT_KEPT
    return errors, (message if field is None else None)


def error_fields(form: ClientForm, error: KeyloftError) -> tuple[dict[str, str], str | None]:
    """Errors by form field, and the message for errors that belong to no field."""
    field, message = form.explain(error)
    return refusal(field, message, form.credentials)


def client_path(client_key: str) -> str:
    return f"{CLIENTS}/{quote(client_key, safe='')}"


def ids_of(entities: list[ScopeEntity]) -> list[int]:
    return [entity.id for entity in entities]


def page(
    request: Request,
    con: Console,
    who: SignedIn,
    org: Org,
    template: str,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    """A page for the signed-in principal, in its org; the session cookie is renewed."""
    return con.pages.render(
        request,
        template,
        viewer=who.viewer(org),
        session=who.session,
        status=status,
        **context,
    )


def no_such_client(
    request: Request, con: Console, who: SignedIn, missing: NoSuchClient
) -> Response:
    return page(
        request,
        con,
        who,
        missing.org,
        "problem.html",
        status=404,
        title="No such client",
        message=missing.message,
    )


def _form_context(
    entities: list[ScopeEntity], tills: list[Principal], form: ClientForm
) -> dict[str, Any]:
    return {
        "entities": entities,
        "form": form,
        "access_choices": ACCESS_CHOICES,
        "till_options": till_options(tills, form.default_till_id),
        "has_tills": bool(tills),
        "method_choices": METHOD_CHOICES,
        "tls_name_choices": TLS_NAME_CHOICES,
        "tls_name_labels": TLS_NAME_LABELS,
    }


def blank_form(entity_ids: list[int], default_till_id: str = "") -> ClientForm:
    return ClientForm(
        default_till_id=default_till_id,
        access=dict.fromkeys(entity_ids, NO_ACCESS),
        resources=dict.fromkeys(entity_ids, ""),
    )


def _form_of(client: Client, entity_ids: list[int]) -> ClientForm:
    form = blank_form(entity_ids)
    for grant in client.grants:
        form.access[grant.entity_id] = grant.permission.value
        form.resources[grant.entity_id] = "\n".join(grant.resources)
    form.name, form.description = client.name, client.description
    form.expiration_token_time = str(client.expiration_token_time)
    form.default_till_id = str(client.default_till_id)
    form.etag = etag(client)
    return form


V3_ENDPOINT = "/v3/oauth/token/generate"
OAUTH2_ENDPOINT = "/oauth2/token"


def _mint_commands(con: Console, client: Client) -> dict[str, Any]:
    """The commands a client's pages show for minting a token, by how it proves itself (a
    secret, its TLS certificate or signed assertions), connecting with its TLS certificate
    when its tokens are bound to it, and for a client whose tokens must be DPoP-bound what
    their proof holds (``dpop``)."""
    bound, tls = client.dpop_bound, client.certificate_bound
    if client.has_secret:
        curl = _curl(con, client.client_key, None, dpop=bound, tls=tls)
        return {"curl": curl, **_dpop(con, client), **_tls(client)}
    if client.auth_method in _BY_CERTIFICATE:
        return {
            "curl": credential_pages.tls_curl(con.issuer, client.client_key, dpop=bound),
            "federated_curl": None,
            "max_assertion_lifetime": credential_pages.MAX_ASSERTION_LIFETIME,
            **_dpop(con, client),
            **_tls(client),
        }
    return {
        "curl": credential_pages.assertion_curl(
            con.issuer, client.client_key, federated=False, dpop=bound, tls=tls
        ),
        "federated_curl": (
            credential_pages.assertion_curl(
                con.issuer, client.client_key, federated=True, dpop=bound, tls=tls
            )
            if client.credentials.federated
            else None
        ),
        "max_assertion_lifetime": credential_pages.MAX_ASSERTION_LIFETIME,
        **_dpop(con, client),
        **_tls(client),
    }


_BY_CERTIFICATE = (TLS_CLIENT_AUTH, SELF_SIGNED_TLS)
"""The methods by which a client proves itself with its TLS certificate (RFC 8705 §2)."""


def _tls(client: Client) -> dict[str, Any]:
    """The files a command connecting with the client's TLS certificate names (``tls``): for a
    client that proves itself with its certificate or one whose tokens are bound to it; else
    None."""
    if not (client.certificate_bound or client.auth_method in _BY_CERTIFICATE):
        return {"tls": None}
    return {"tls": {"cert": credential_pages.CERT_FILE, "key": credential_pages.KEY_FILE}}


def _dpop(con: Console, client: Client) -> dict[str, Any]:
    """What the proof of the client's token requests holds, at the endpoint its command uses
    (``dpop``); None when its tokens need not be DPoP-bound."""
    if not client.dpop_bound:
        return {"dpop": None}
    endpoint = V3_ENDPOINT if client.has_secret else OAUTH2_ENDPOINT
    token_url = con.issuer.rstrip("/") + endpoint
    return {"dpop": credential_pages.dpop_help(token_url, nonce=con.dpop_nonce)}


def _curl(
    con: Console, client_key: str, secret: str | None, *, dpop: bool = False, tls: bool = False
) -> str:
    """A command minting a token; without ``secret`` it reads ``$CLIENT_SECRET`` from the
    shell, with ``dpop`` a DPoP proof from ``$DPOP_PROOF``, with ``tls`` it connects with the
    client's TLS certificate. Keys and secrets are letters and digits only, so they need no
    quoting."""
    issuer = con.issuer.rstrip("/")
    if secret is None:
        body = f'"{{\\"key\\": \\"{client_key}\\", \\"secret\\": \\"$CLIENT_SECRET\\"}}"'
    else:
        body = f'\'{{"key": "{client_key}", "secret": "{secret}"}}\''
    lines = [f"curl -X POST '{issuer}{V3_ENDPOINT}'"]
    if tls:
        lines += credential_pages.TLS_OPTIONS
    lines.append("  -H 'Content-Type: application/json'")
    if dpop:
        lines.append(credential_pages.DPOP_HEADER)
    lines.append(f"  -d {body}")
    return " \\\n".join(lines)


def new_client_page(
    request: Request,
    con: Console,
    who: SignedIn,
    choices: FormChoices,
    form: ClientForm,
    *,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    return page(
        request,
        con,
        who,
        choices.org,
        "new.html",
        status=status,
        title="New API client",
        errors=errors or {},
        problem=problem,
        issuer=con.issuer,
        **_form_context(choices.entities, choices.tills, form),
    )


def client_page(
    request: Request,
    con: Console,
    who: SignedIn,
    view: ClientView,
    *,
    form: ClientForm | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
    notice: str | None = None,
    credential_form: CredentialForm | None = None,
    governance_form: dict[str, str] | None = None,
) -> Response:
    client = view.client
    tills = {till.id: till for till in view.tills}
    timezone = view.org.timezone
    return page(
        request,
        con,
        who,
        view.org,
        "client.html",
        status=status,
        title=client.name,
        client=client,
        rows=access_rows(client, view.entities),
        default_till=till_label(client.default_till_id, tills),
        history=history_rows(view.history, view.org.timezone),
        history_limit=HISTORY,
        errors=errors or {},
        problem=problem,
        notice=notice,
        issuer=con.issuer,
        credentials=credential_form or CredentialForm.of(client),
        keys=credential_pages.key_rows(client, view.uses, timezone),
        rules=credential_pages.rule_rows(client.credentials.federated, view.uses, timezone),
        last_credential=credential_pages.last_credential(client, view.uses, timezone),
        governance=governance_form or governance_fields(client),
        secret_state=secret_state(client, con.now()),
        viewer_org_lifetime=view.org.secret_lifetime,
        usage=client_charts(view.usage, timezone),
        **_mint_commands(con, client),
        **_form_context(view.entities, view.tills, form or _form_of(client, ids_of(view.entities))),
    )


def secret_state(client: Client, now: datetime) -> str | None:
    """``expired``, ``soon`` (within 14 days) or None: what the console warns of a secret."""
    expires = client.secret_expires_at
    if not client.has_secret or expires is None:
        return None
    if secret_expired(expires, now):
        return "expired"
    return "soon" if secret_expires_soon(expires, now) else None


def governance_fields(client: Client) -> dict[str, str]:
    """The governance form's fields as the client holds them."""
    per_minute = client.governance.tokens_per_minute
    return {
        "ipAllowlist": "\n".join(client.governance.allowlist_strings),
        "tokenRateLimit": str(per_minute) if per_minute is not None else "",
    }


def secret_page(
    request: Request,
    con: Console,
    who: SignedIn,
    answer: ClientAnswer,
    *,
    created: bool,
    switched: bool = False,
) -> Response:
    """Shown in the answer to the POST that made the secret, and never again: a new client's,
    a rotation's, or a switch to client_secret_basic's. A new client without a secret is shown
    its key and how it mints tokens instead."""
    client = answer.client
    if answer.secret is None:
        assert created, "only a new client may be answered without a secret"
        return page(
            request,
            con,
            who,
            answer.org,
            "secret.html",
            title="Client created",
            client=client,
            secret=None,
            created=True,
            switched=False,
            issuer=con.issuer,
            **_mint_commands(con, client),
        )
    return page(
        request,
        con,
        who,
        answer.org,
        "secret.html",
        title="Client secret",
        client=client,
        secret=answer.secret,
        created=created,
        switched=switched,
        curl=_curl(
            con,
            client.client_key,
            answer.secret,
            dpop=client.dpop_bound,
            tls=client.certificate_bound,
        ),
        **_dpop(con, client),
        **_tls(client),
    )

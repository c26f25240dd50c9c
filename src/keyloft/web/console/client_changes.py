"""The console's forms that change an API client: create, edit, require its tokens to be
DPoP-bound or not, bind them to its TLS certificate or not, delete, rotate the secret and stop
the replaced one. Each is one call on the console's services, made by the signed-in principal
from a guarded POST; a change the rules refuse shows its page again with why."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.responses import Response

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.governance import LIFETIME_FIELD
from keyloft.services.client_admin import ClientAnswer
from keyloft.services.client_requests import ClientRequest
from keyloft.services.console_views import (
    CERTIFICATE_BOUND,
    DPOP_BOUND,
    NoSuchClient,
    NotChanged,
    NotCreated,
    ReadRequest,
)
from keyloft.web.caller import request_context
from keyloft.web.console import rendering
from keyloft.web.console.dependencies import Console, ConsoleDep, GuardedPost, GuardedPostDep
from keyloft.web.console.forms import ClientForm, read_flag
from keyloft.web.console.pages import redirect
from keyloft.web.console.routing import console_router
from keyloft.web.wiring import ServicesDep

router = console_router()


def _form_reader(fields: dict[str, str], *, new: bool = False) -> ReadRequest:
    def read(entity_ids: list[int]) -> ClientRequest:
        return ClientForm.from_fields(fields, entity_ids).to_request(new=new)

    return read


@router.post("/clients/new")
async def create_client(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep
) -> Response:
    answer = await services.console.create_client(
        post.actor, _form_reader(post.fields, new=True), request_context(request)
    )
    if isinstance(answer, NotCreated):
        choices, error = answer.choices, answer.error
        form = ClientForm.from_fields(post.fields, rendering.ids_of(choices.entities))
        errors, problem = rendering.error_fields(form, error)
        return rendering.new_client_page(
            request,
            con,
            post,
            choices,
            form,
            errors=errors,
            problem=problem,
            status=rendering.status_of(error),
        )
    return rendering.secret_page(request, con, post, answer, created=True)


@router.post("/clients/{client_key}")
async def update_client(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    answer = await services.console.update_client(
        post.actor,
        client_key,
        _form_reader(post.fields),
        request_context(request),
        if_match=post.etag,
    )
    if isinstance(answer, NotChanged):
        shown, error = answer.page, answer.error
        form = ClientForm.from_fields(post.fields, rendering.ids_of(shown.entities))
        errors, problem = rendering.error_fields(form, error)
        return rendering.client_page(
            request,
            con,
            post,
            shown,
            form=form,
            errors=errors,
            problem=problem,
            status=rendering.status_of(error),
        )
    return _done(request, con, post, client_key, answer, "saved")


FlagChange = Callable[..., Awaitable[ClientAnswer | NotChanged | NoSuchClient]]
"""A console service setting one flag of a client: ``(actor, client_key, bound, context,
if_match=...)``."""


@router.post("/clients/{client_key}/dpop")
async def set_dpop_bound(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    """Require the client's tokens to be DPoP-bound (``true``) or not (``false``)."""
    change = services.console.set_dpop_bound
    return await _set_flag(request, con, services, post, client_key, DPOP_BOUND, change, "dpop")


@router.post("/clients/{client_key}/certificate-bound")
async def set_certificate_bound(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    """Bind the client's tokens to its TLS certificate (``true``) or not (``false``)."""
    change = services.console.set_certificate_bound
    flag = CERTIFICATE_BOUND
    return await _set_flag(request, con, services, post, client_key, flag, change, "certificate")


async def _set_flag(
    request: Request,
    con: Console,
    services: ServicesDep,
    post: GuardedPost,
    client_key: str,
    name: str,
    change: FlagChange,
    done: str,
) -> Response:
    """The form of the flag ``name``: set by ``change``, then back to the client's page saying
    ``<done>-on`` or ``<done>-off``; a refusal about the flag is shown beside its button."""
    answer: ClientAnswer | NotChanged | NoSuchClient
    flag = post.fields.get(name, "").strip()
    try:
        bound = read_flag(flag, name, checkbox=False)
    except ValidationFailed as unread:
        shown = await services.console.client_page(post.actor, client_key)
        answer = shown if isinstance(shown, NoSuchClient) else NotChanged(shown, unread)
    else:
        answer = await change(
            post.actor, client_key, bound, request_context(request), if_match=post.etag
        )
    if isinstance(answer, NotChanged) and answer.error.field == name:
        return rendering.client_page(
            request,
            con,
            post,
            answer.page,
            errors={name: answer.error.message},
            status=rendering.status_of(answer.error),
        )
    done = f"{done}-on" if flag == "true" else f"{done}-off"
    return _done(request, con, post, client_key, answer, done)


def _done(
    request: Request,
    con: Console,
    post: GuardedPost,
    client_key: str,
    answer: ClientAnswer | NotChanged | NoSuchClient,
    done: str,
) -> Response:
    """Back to the client's page saying ``done``; or the page with why the change was
    refused."""
    if isinstance(answer, NoSuchClient):
        return rendering.no_such_client(request, con, post, answer)
    if isinstance(answer, NotChanged):
        return rendering.client_page(
            request,
            con,
            post,
            answer.page,
            problem=answer.error.message,
            status=rendering.status_of(answer.error),
        )
    return redirect(f"{rendering.client_path(client_key)}?done={done}")


@router.post("/clients/{client_key}/delete")
async def delete_client(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    answer = await services.console.delete_client(
        post.actor, client_key, request_context(request), if_match=post.etag
    )
    return _done(request, con, post, client_key, answer, "deleted")


@router.post("/clients/{client_key}/secret")
async def rotate_secret(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    grace = post.fields.get("graceSeconds", "0").strip() or "0"
    lifetime = post.fields.get(LIFETIME_FIELD, "").strip()
    answer: ClientAnswer | NotChanged | NoSuchClient
    if not (grace.isascii() and grace.isdigit()) or len(grace) > 9:
        unread = ValidationFailed("graceSeconds must be a whole number.", field="graceSeconds")
        shown = await services.console.client_page(post.actor, client_key)
        answer = shown if isinstance(shown, NoSuchClient) else NotChanged(shown, unread)
    elif lifetime and (not (lifetime.isascii() and lifetime.isdigit()) or len(lifetime) > 10):
        message = f"{LIFETIME_FIELD} must be a whole number of seconds."
        unread = ValidationFailed(message, field=LIFETIME_FIELD)
        shown = await services.console.client_page(post.actor, client_key)
        answer = shown if isinstance(shown, NoSuchClient) else NotChanged(shown, unread)
    else:
        answer = await services.console.rotate_secret(
            post.actor,
            client_key,
            request_context(request),
            grace_seconds=int(grace),
            if_match=post.etag,
            secret_lifetime=int(lifetime) if lifetime else None,
        )
    if isinstance(answer, NoSuchClient):
        return rendering.no_such_client(request, con, post, answer)
    if isinstance(answer, NotChanged):
        error = answer.error
        shown_beside = ("graceSeconds", LIFETIME_FIELD)
        errors = {error.field: error.message} if error.field in shown_beside else {}
        return rendering.client_page(
            request,
            con,
            post,
            answer.page,
            errors=errors,
            problem=None if errors else error.message,
            status=rendering.status_of(error),
        )
    return rendering.secret_page(request, con, post, answer, created=False)


@router.post("/clients/{client_key}/secret/previous")
async def end_grace(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    answer = await services.console.end_grace(
        post.actor, client_key, request_context(request), if_match=post.etag
    )
    return _done(request, con, post, client_key, answer, "grace-ended")

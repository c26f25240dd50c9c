"""The console's pages: sign-in and sign-out, the clients list, creating, changing, rotating and
deleting a client, and a client's history. Every change goes through ``ClientService`` in its
own transaction, exactly as the API's do, sealed to the signed-in principal's org; who is
signed in is re-checked through ``AuthService`` on every request. A page whose store cannot be
reached answers with an HTML 503 page."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from starlette.responses import Response

from keyloft.domain.actors import Actor, Principal, PrincipalKind
from keyloft.domain.audit import RequestContext
from keyloft.domain.clients import Client, etag
from keyloft.domain.errors import (
    ClientNotFound,
    KeyloftError,
    StoreUnavailable,
    TooManyAttempts,
    Unauthenticated,
    ValidationFailed,
)
from keyloft.domain.scopes import ScopeEntity
from keyloft.services.auth import AuthService
from keyloft.services.clients import ClientService
from keyloft.services.ports import Store
from keyloft.web import deps
from keyloft.web.console import csrf
from keyloft.web.console.forms import (
    ACCESS_CHOICES,
    NO_ACCESS,
    ClientForm,
    FormUnreadable,
    read_form,
)
from keyloft.web.console.pages import (
    PREFIX,
    Pages,
    Viewer,
    access_rows,
    history_rows,
    over_tls,
    redirect,
    till_label,
    till_options,
)
from keyloft.web.console.session import (
    COOKIE,
    PRE_COOKIE,
    EndedSessions,
    Session,
    SessionCodec,
    SessionUnavailable,
)
from keyloft.web.errors import STATUS, STORE_FAILURES, STORE_RETRY_SECONDS
from keyloft.web.runtime import Runtime

log = logging.getLogger("keyloft.console")
OUTAGE_MESSAGE = "Keyloft cannot reach its database right now. Try again in a moment."


def _store_unreachable(exc: Exception) -> bool:
    """The same failures the API answers with 503: the database is away, not the request bad."""
    if isinstance(exc, (StoreUnavailable, *STORE_FAILURES)):
        return True
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc.orig, STORE_FAILURES)
    )


class ConsoleRoute(APIRoute):
    """A console page: when the store cannot be reached it answers with an HTML page (503,
    ``Retry-After``) for the person at the browser, rather than the API's JSON envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_or_outage(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                if not _store_unreachable(exc):
                    raise
                log.warning("console: store unavailable: %s", type(exc).__name__)
                response = console(request).pages.render(
                    request,
                    "problem.html",
                    status=503,
                    title="Temporarily unavailable",
                    message=OUTAGE_MESSAGE,
                )
                response.headers["Retry-After"] = str(STORE_RETRY_SECONDS)
                return response

        return page_or_outage


router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)
SIGN_IN = f"{PREFIX}/sign-in"
CLIENTS = f"{PREFIX}/clients"
PRE_COOKIE_SECONDS = 3600
MAX_FILTER = 100
HISTORY = 10  # audit events shown on a client's page, newest first


class Console:
    """The console's per-process parts, built on first use from the node's runtime."""

    def __init__(self, rt: Runtime) -> None:
        settings = rt.settings
        self.codec = SessionCodec(
            rt.server_keys.console_session,
            absolute_seconds=settings.console_session_seconds,
            idle_seconds=settings.console_idle_seconds,
            clock=lambda: rt.clock.now().timestamp(),
        )
        self.ended = EndedSessions(rt.redis)
        self.pages = Pages(self.codec)
        # Without Redis only a lone process can know every sign-out (see session.py).
        self.sign_out_shared = rt.redis is not None or settings.workers == 1


def console(request: Request) -> Console:
    found: Console | None = getattr(request.app.state, "console", None)
    if found is None:
        found = request.app.state.console = Console(request.app.state.runtime)
    return found


ConsoleDep = Annotated[Console, Depends(console)]


@asynccontextmanager
async def transaction(rt: Runtime, *, write: bool) -> AsyncIterator[Store]:
    """Committed when the block ends, rolled back when it raises; changes announced after."""
    async with rt.database.unit_of_work(write=write) as store:
        yield store
    if store.changes:
        await rt.bus.publish(store.changes)


def _context(request: Request, rt: Runtime) -> RequestContext:
    return deps.request_context(request, deps.caller_address(request, rt))


def _service(request: Request, rt: Runtime, store: Store) -> ClientService:
    return deps.client_service(rt, store, _context(request, rt))


def _auth(rt: Runtime, store: Store) -> AuthService:
    return AuthService(store, deps.inspector(rt, store), rt.logins, rt.guard, rt.cache)


def _status(error: KeyloftError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)


# --- who is signed in -------------------------------------------------------------------


class NotSignedIn(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


async def _session(request: Request, rt: Runtime, con: Console) -> tuple[Actor, Session]:
    """The signed-in actor, re-checked against the store on every request."""
    raw = request.cookies.get(COOKIE)
    session = con.codec.decode(raw)
    if session is None:
        raise NotSignedIn("expired" if raw else "")
    try:
        if await con.ended.ended(session.nonce):
            raise NotSignedIn("expired")
    except SessionUnavailable:
        raise NotSignedIn("unavailable") from None
    async with transaction(rt, write=False) as store:
        found = await _auth(rt, store).principal_for_session(
            session.login, con.codec.fingerprint, expected=session.fingerprint
        )
    if found is None:
        raise NotSignedIn("expired")
    principal, _ = found
    if principal.id != session.principal_id or principal.org_id != session.org_id:
        raise NotSignedIn("expired")
    return Actor(principal=principal), session


def _to_sign_in(reason: str) -> Response:
    response = redirect(f"{SIGN_IN}?ended={reason}" if reason else SIGN_IN)
    if reason:
        response.delete_cookie(COOKIE, path=PREFIX)
    return response


async def _viewer(
    request: Request, rt: Runtime, con: Console, actor: Actor, session: Session
) -> Viewer:
    async with transaction(rt, write=False) as store:
        org = await _service(request, rt, store).org(actor)
    return Viewer(
        principal=actor.principal,
        org_name=org.name,
        timezone=org.timezone,
        max_token_ttl=org.max_token_ttl,
        csrf=con.codec.token(csrf.SESSION_PURPOSE, session.nonce),
    )


async def _guarded_post(
    request: Request, rt: Runtime, con: Console
) -> tuple[Actor, Session, dict[str, str]] | Response:
    """A form POST from this site, by a signed-in principal, with the session's token."""
    if not csrf.same_site(request):
        return _forbidden(request, con, "The request did not come from this console.")
    try:
        actor, session = await _session(request, rt, con)
    except NotSignedIn as ended:
        return _to_sign_in(ended.reason or "expired")
    try:
        fields = await read_form(request)
    except FormUnreadable as exc:
        return _forbidden(request, con, str(exc), status=400)
    expected = con.codec.token(csrf.SESSION_PURPOSE, session.nonce)
    if not csrf.token_ok(fields.get(csrf.FIELD), expected):
        return _forbidden(request, con, "The form's security token is missing or stale.")
    return actor, session, fields


def _forbidden(request: Request, con: Console, message: str, *, status: int = 403) -> Response:
    return con.pages.render(
        request, "problem.html", status=status, title="Request refused", message=message
    )


# --- sign-in and sign-out ---------------------------------------------------------------


@router.get("")
async def home() -> Response:
    return redirect(CLIENTS)


ENDED_MESSAGES = {
    "signed-out": "You have signed out.",
    "expired": "Your session has ended. Sign in again.",
    "unavailable": "Sessions cannot be checked right now; try again shortly.",
}


def _sign_in_page(
    request: Request,
    con: Console,
    *,
    status: int = 200,
    username: str = "",
    errors: dict[str, str] | None = None,
    message: str | None = None,
) -> Response:
    nonce = secrets.token_urlsafe(18)
    response = con.pages.render(
        request,
        "sign_in.html",
        status=status,
        title="Sign in",
        csrf_token=con.codec.token(csrf.SIGN_IN_PURPOSE, nonce),
        username=username,
        errors=errors or {},
        message=message,
    )
    response.set_cookie(
        PRE_COOKIE,
        nonce,
        max_age=PRE_COOKIE_SECONDS,
        path=SIGN_IN,
        httponly=True,
        secure=over_tls(request),
        samesite="strict",
    )
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request, con: ConsoleDep, ended: str = "") -> Response:
    return _sign_in_page(request, con, message=ENDED_MESSAGES.get(ended))


@router.post("/sign-in")
async def sign_in(request: Request, rt: deps.RuntimeDep, con: ConsoleDep) -> Response:
    if not csrf.same_site(request):
        return _forbidden(request, con, "The request did not come from this console.")
    try:
        fields = await read_form(request)
    except FormUnreadable as exc:
        return _forbidden(request, con, str(exc), status=400)
    nonce = request.cookies.get(PRE_COOKIE, "")
    expected = con.codec.token(csrf.SIGN_IN_PURPOSE, nonce)
    if not nonce or not csrf.token_ok(fields.get(csrf.FIELD), expected):
        return _forbidden(request, con, "The sign-in form expired; reload it and try again.")
    username, password = fields.get("username", ""), fields.get("password", "")
    missing = {
        name: f"Enter your {name}." for name in ("username", "password") if not fields.get(name)
    }
    if missing:
        return _sign_in_page(request, con, status=400, username=username, errors=missing)
    if not con.sign_out_shared:
        return _sign_in_page(
            request,
            con,
            status=503,
            username=username,
            message="The console needs KEYLOFT_REDIS_URL when several workers serve.",
        )
    address = deps.caller_address(request, rt)
    try:
        async with transaction(rt, write=False) as store:
            auth = _auth(rt, store)
            actor = await auth.basic(username, password, address=address)
            found = await auth.principal_for_session(username, con.codec.fingerprint, expected=None)
    except (Unauthenticated, TooManyAttempts) as exc:
        status = _status(exc)
        message = exc.message if status == 429 else "Wrong username or password."
        response = _sign_in_page(
            request, con, status=status, username=username, errors={"password": message}
        )
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if found is None:  # the principal went away between the two reads
        return _sign_in_page(request, con, status=401, username=username)
    principal = actor.principal
    session = con.codec.new(principal.id, principal.code, principal.org_id, found[1])
    response = redirect(CLIENTS)
    con.pages.keep(request, response, session)
    response.delete_cookie(PRE_COOKIE, path=SIGN_IN)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, rt: deps.RuntimeDep, con: ConsoleDep) -> Response:
    checked = await _guarded_post(request, rt, con)
    if isinstance(checked, Response):
        return checked
    _, session, _ = checked
    reason = "signed-out"
    try:
        await con.ended.end(session.nonce, con.codec.remaining(session))
    except SessionUnavailable:
        reason = "unavailable"
    response = redirect(f"{SIGN_IN}?ended={reason}")
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


# --- the clients ------------------------------------------------------------------------


def _matches(client: Client, text: str) -> bool:
    text = text.casefold()
    return any(
        text in value.casefold() for value in (client.name, client.client_key, client.description)
    )


@router.get("/clients")
async def clients_page(
    request: Request, rt: deps.RuntimeDep, con: ConsoleDep, q: str = "", deleted: str = ""
) -> Response:
    try:
        actor, session = await _session(request, rt, con)
    except NotSignedIn as ended:
        return _to_sign_in(ended.reason)
    viewer = await _viewer(request, rt, con, actor, session)
    show_deleted = deleted == "1"
    query = q.strip()[:MAX_FILTER]
    async with transaction(rt, write=False) as store:
        service = _service(request, rt, store)
        clients = await service.list(actor, include_invalid=show_deleted)
        entities = await service.scopes(actor)
        tills = {till.id: till for till in await service.tills(actor)}
    shown = [client for client in clients if not query or _matches(client, query)]
    return con.pages.render(
        request,
        "clients.html",
        viewer=viewer,
        session=session,
        title="API clients",
        wide=True,
        clients=shown,
        total=len(clients),
        query=query,
        show_deleted=show_deleted,
        rows={client.client_key: access_rows(client, entities) for client in shown},
        till_label=lambda till_id: till_label(till_id, tills),
    )


@dataclass(frozen=True, slots=True)
class FormData:
    """What the create and edit forms offer: the org's scope entities and Tills."""

    entities: list[ScopeEntity]
    tills: list[Principal]

    @property
    def entity_ids(self) -> list[int]:
        return [entity.id for entity in self.entities]


def _form_context(data: FormData, form: ClientForm) -> dict[str, Any]:
    return {
        "entities": data.entities,
        "form": form,
        "access_choices": ACCESS_CHOICES,
        "till_options": till_options(data.tills, form.default_till_id),
        "has_tills": bool(data.tills),
    }


def _blank_form(entity_ids: list[int], default_till_id: str = "") -> ClientForm:
    return ClientForm(
        default_till_id=default_till_id,
        access=dict.fromkeys(entity_ids, NO_ACCESS),
        resources=dict.fromkeys(entity_ids, ""),
    )


def _form_of(client: Client, entity_ids: list[int]) -> ClientForm:
    form = _blank_form(entity_ids)
    for grant in client.grants:
        form.access[grant.entity_id] = grant.permission.value
        form.resources[grant.entity_id] = "\n".join(grant.resources)
    form.name, form.description = client.name, client.description
    form.expiration_token_time = str(client.expiration_token_time)
    form.default_till_id = str(client.default_till_id)
    form.etag = etag(client)
    return form


async def _form_data(request: Request, rt: Runtime, actor: Actor) -> FormData:
    async with transaction(rt, write=False) as store:
        service = _service(request, rt, store)
        return FormData(await service.scopes(actor), await service.tills(actor))


def _first_till(actor: Actor, tills: list[Principal]) -> str:
    """The Till a new client's form starts with: the signed-in Till, or the org's only one."""
    if actor.principal.kind is PrincipalKind.TILL:
        return str(actor.principal.id)
    return str(tills[0].id) if len(tills) == 1 else ""


@router.get("/clients/new")
async def new_client_form(request: Request, rt: deps.RuntimeDep, con: ConsoleDep) -> Response:
    try:
        actor, session = await _session(request, rt, con)
    except NotSignedIn as ended:
        return _to_sign_in(ended.reason)
    viewer = await _viewer(request, rt, con, actor, session)
    data = await _form_data(request, rt, actor)
    form = _blank_form(data.entity_ids, _first_till(actor, data.tills))
    return con.pages.render(
        request,
        "new.html",
        viewer=viewer,
        session=session,
        title="New API client",
        errors={},
        problem=None,
        **_form_context(data, form),
    )


def _error_fields(form: ClientForm, error: KeyloftError) -> tuple[dict[str, str], str | None]:
    """Errors by form field, and the message for errors that belong to no field."""
    field = form.field_for(error.field)
    if field is None:
        return {}, error.message
    return {field: error.message}, None


@router.post("/clients/new")
async def create_client(request: Request, rt: deps.RuntimeDep, con: ConsoleDep) -> Response:
    checked = await _guarded_post(request, rt, con)
    if isinstance(checked, Response):
        return checked
    actor, session, fields = checked
    viewer = await _viewer(request, rt, con, actor, session)
    data = await _form_data(request, rt, actor)
    form = ClientForm.from_fields(fields, data.entity_ids)
    try:
        client_request = form.to_request()
        async with transaction(rt, write=True) as store:
            client, secret = await _service(request, rt, store).create(actor, client_request)
    except KeyloftError as error:
        errors, problem = _error_fields(form, error)
        return con.pages.render(
            request,
            "new.html",
            viewer=viewer,
            session=session,
            status=_status(error),
            title="New API client",
            errors=errors,
            problem=problem,
            **_form_context(data, form),
        )
    return _secret_page(request, rt, con, viewer, session, client, secret, created=True)


def _curl(rt: Runtime, client_key: str, secret: str | None) -> str:
    """A command minting a token; without ``secret`` it reads ``$CLIENT_SECRET`` from the
    shell. Keys and secrets are letters and digits only, so they need no quoting."""
    issuer = rt.settings.issuer.rstrip("/")
    if secret is None:
        body = f'"{{\\"key\\": \\"{client_key}\\", \\"secret\\": \\"$CLIENT_SECRET\\"}}"'
    else:
        body = f'\'{{"key": "{client_key}", "secret": "{secret}"}}\''
    return (
        f"curl -X POST '{issuer}/v3/oauth/token/generate' \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d {body}"
    )


def _secret_page(
    request: Request,
    rt: Runtime,
    con: Console,
    viewer: Viewer,
    session: Session,
    client: Client,
    secret: str,
    *,
    created: bool,
) -> Response:
    """Shown in the answer to the POST that made the secret, and never again."""
    return con.pages.render(
        request,
        "secret.html",
        viewer=viewer,
        session=session,
        title="Client secret",
        client=client,
        secret=secret,
        created=created,
        curl=_curl(rt, client.client_key, secret),
    )


async def _client_page(
    request: Request,
    rt: Runtime,
    con: Console,
    actor: Actor,
    session: Session,
    client_key: str,
    *,
    form: ClientForm | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    viewer = await _viewer(request, rt, con, actor, session)
    async with transaction(rt, write=False) as store:
        service = _service(request, rt, store)
        try:
            client = await service.get(actor, client_key)
        except ClientNotFound as missing:
            return con.pages.render(
                request,
                "problem.html",
                viewer=viewer,
                session=session,
                status=404,
                title="No such client",
                message=missing.message,
            )
        data = FormData(await service.scopes(actor), await service.tills(actor))
        history = await deps.audit_service(store).find(
            actor.org_id, client_key=client.client_key, limit=HISTORY
        )
    tills = {till.id: till for till in data.tills}
    return con.pages.render(
        request,
        "client.html",
        viewer=viewer,
        session=session,
        status=status,
        title=client.name,
        client=client,
        rows=access_rows(client, data.entities),
        default_till=till_label(client.default_till_id, tills),
        history=history_rows(history.events, viewer.timezone),
        history_limit=HISTORY,
        errors=errors or {},
        problem=problem,
        notice=notice,
        curl=_curl(rt, client.client_key, None),
        **_form_context(data, form or _form_of(client, data.entity_ids)),
    )


NOTICES = {
    "saved": "Changes saved.",
    "deleted": "The client was deleted.",
    "grace-ended": "Only the newest secret works now.",
}


def _key_path(client_key: str) -> str:
    return f"{CLIENTS}/{quote(client_key, safe='')}"


@router.get("/clients/{client_key}")
async def client_page(
    request: Request, rt: deps.RuntimeDep, con: ConsoleDep, client_key: str, done: str = ""
) -> Response:
    try:
        actor, session = await _session(request, rt, con)
    except NotSignedIn as ended:
        return _to_sign_in(ended.reason)
    return await _client_page(
        request, rt, con, actor, session, client_key, notice=NOTICES.get(done)
    )


@router.post("/clients/{client_key}")
async def update_client(
    request: Request, rt: deps.RuntimeDep, con: ConsoleDep, client_key: str
) -> Response:
    checked = await _guarded_post(request, rt, con)
    if isinstance(checked, Response):
        return checked
    actor, session, fields = checked
    async with transaction(rt, write=False) as store:
        entities = await _service(request, rt, store).scopes(actor)
    form = ClientForm.from_fields(fields, [entity.id for entity in entities])
    try:
        client_request = form.to_request()
        async with transaction(rt, write=True) as store:
            await _service(request, rt, store).update(
                actor, client_key, client_request, if_match=form.etag or None
            )
    except ClientNotFound:
        return await _client_page(request, rt, con, actor, session, client_key)
    except KeyloftError as error:
        errors, problem = _error_fields(form, error)
        return await _client_page(
            request,
            rt,
            con,
            actor,
            session,
            client_key,
            form=form,
            errors=errors,
            problem=problem,
            status=_status(error),
        )
    return redirect(f"{_key_path(client_key)}?done=saved")


@router.get("/clients/{client_key}/delete")
async def delete_confirmation(
    request: Request, rt: deps.RuntimeDep, con: ConsoleDep, client_key: str
) -> Response:
    try:
        actor, session = await _session(request, rt, con)
    except NotSignedIn as ended:
        return _to_sign_in(ended.reason)
    viewer = await _viewer(request, rt, con, actor, session)
    async with transaction(rt, write=False) as store:
        try:
            client = await _service(request, rt, store).get(actor, client_key)
        except ClientNotFound as missing:
            return con.pages.render(
                request,
                "problem.html",
                viewer=viewer,
                session=session,
                status=404,
                title="No such client",
                message=missing.message,
            )
    return con.pages.render(
        request,
        "delete.html",
        viewer=viewer,
        session=session,
        title=f"Delete {client.name}",
        client=client,
        etag=etag(client),
    )


async def _change(
    request: Request,
    rt: deps.RuntimeDep,
    con: ConsoleDep,
    client_key: str,
    change: Callable[[ClientService, Actor, str | None], Awaitable[object]],
    done: str,
) -> Response:
    """A form that changes the client without fields of its own (delete, end the grace):
    on success back to the client page saying ``done``, else the page with the problem."""
    checked = await _guarded_post(request, rt, con)
    if isinstance(checked, Response):
        return checked
    actor, session, fields = checked
    try:
        async with transaction(rt, write=True) as store:
            await change(_service(request, rt, store), actor, fields.get("etag") or None)
    except KeyloftError as error:
        return await _client_page(
            request,
            rt,
            con,
            actor,
            session,
            client_key,
            problem=error.message,
            status=_status(error),
        )
    return redirect(f"{_key_path(client_key)}?done={done}")


@router.post("/clients/{client_key}/delete")
async def delete_client(
    request: Request, rt: deps.RuntimeDep, con: ConsoleDep, client_key: str
) -> Response:
    async def delete(service: ClientService, actor: Actor, etag: str | None) -> object:
        return await service.delete(actor, client_key, if_match=etag)

    return await _change(request, rt, con, client_key, delete, "deleted")


@router.post("/clients/{client_key}/secret")
async def rotate_secret(
    request: Request, rt: deps.RuntimeDep, con: ConsoleDep, client_key: str
) -> Response:
    checked = await _guarded_post(request, rt, con)
    if isinstance(checked, Response):
        return checked
    actor, session, fields = checked
    grace = fields.get("graceSeconds", "0").strip() or "0"
    try:
        if not grace.isdigit() or len(grace) > 9:
            raise ValidationFailed("graceSeconds must be a whole number.", field="graceSeconds")
        async with transaction(rt, write=True) as store:
            client, secret = await _service(request, rt, store).rotate_secret(
                actor, client_key, grace_seconds=int(grace), if_match=fields.get("etag") or None
            )
    except KeyloftError as error:
        errors = {"graceSeconds": error.message} if error.field == "graceSeconds" else {}
        return await _client_page(
            request,
            rt,
            con,
            actor,
            session,
            client_key,
            errors=errors,
            problem=None if errors else error.message,
            status=_status(error),
        )
    viewer = await _viewer(request, rt, con, actor, session)
    return _secret_page(request, rt, con, viewer, session, client, secret, created=False)


@router.post("/clients/{client_key}/secret/previous")
async def end_grace(
    request: Request, rt: deps.RuntimeDep, con: ConsoleDep, client_key: str
) -> Response:
    async def end(service: ClientService, actor: Actor, etag: str | None) -> object:
        return await service.end_grace(actor, client_key, if_match=etag)

    return await _change(request, rt, con, client_key, end, "grace-ended")

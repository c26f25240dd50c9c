"""Rendering console pages: the template environment, the view helpers templates use, and the
security headers and cookies every console answer carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.audit import AuditEvent
from keyloft.domain.clients import Client
from keyloft.domain.scopes import ScopeEntity
from keyloft.domain.timefmt import zone
from keyloft.web.console.forms import ACCESS_CHOICES
from keyloft.web.console.session import COOKIE, Session, SessionCodec

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PREFIX = "/console"
SIGN_IN = f"{PREFIX}/sign-in"
CLIENTS = f"{PREFIX}/clients"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show client data, and one shows a secret: no copy may be kept anywhere.
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}
ACCESS_LABELS = dict(ACCESS_CHOICES)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(prefix=PREFIX, when=when, duration=duration, who=who)
    return env


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is signed in, and the org's facts pages show."""

    principal: Principal
    org_name: str
    timezone: str
    max_token_ttl: int
    csrf: str


def when(moment: datetime | None, timezone: str) -> str:
    if moment is None:
        return "never"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def who(principal: Principal) -> str:
    kind = "Till" if principal.kind is PrincipalKind.TILL else "admin"
    if principal.name == principal.code:
        return f"{principal.code} ({kind})"
    return f"{principal.name} ({kind} {principal.code})"


def till_label(till_id: int, tills: dict[int, Principal]) -> str:
    """A Till by name, code and id; one that is not among the org's Tills by its id alone."""
    till = tills.get(till_id)
    if till is None:
        return f"Till #{till_id}"
    if till.name == till.code:
        return f"{till.code} (#{till.id})"
    return f"{till.name} ({till.code}, #{till.id})"


def till_options(tills: list[Principal], chosen: str) -> list[tuple[str, str]]:
    """The default-Till choices as (value, label): the org's Tills; a blank first choice
    while none is chosen; and a chosen id that is not one of them (a Till since removed, or
    a typed id), so that the form shows what it holds and the error beside it."""
    by_id = {till.id: till for till in tills}
    options = [(str(till.id), till_label(till.id, by_id)) for till in tills]
    if not chosen:
        return [("", "Choose a Till"), *options]
    if chosen.isdigit() and len(chosen) <= 18 and int(chosen) not in by_id:
        options.append((chosen, f"Till #{int(chosen)} (not a Till of this org)"))
    return options


ACTIONS = {
    "client.create": "Created",
    "client.update": "Changed",
    "client.delete": "Deleted",
    "client.secret.rotate": "Secret rotated",
    "client.secret.end_grace": "Previous secret stopped",
}


def history_rows(events: list[AuditEvent], timezone: str) -> list[dict[str, Any]]:
    """A client's audit events as the page shows them: only the names of the changed fields,
    never their values."""
    return [
        {
            "at": when(event.at, timezone),
            "action": ACTIONS.get(event.action, event.action),
            "code": event.action,
            "who": who(event.actor) if event.actor else f"{event.operator} (operator)",
            "fields": sorted(event.changes),
        }
        for event in events
    ]


def access_rows(client: Client, entities: list[ScopeEntity]) -> list[dict[str, Any]]:
    names = {entity.id: entity.name for entity in entities}
    return [
        {
            "entity": names.get(grant.entity_id, f"#{grant.entity_id}"),
            "access": ACCESS_LABELS.get(grant.permission.value, grant.permission.value),
            "resources": list(grant.resources),
        }
        for grant in client.grants
    ]


class Pages:
    """Renders templates into answers with the console's headers."""

    def __init__(self, codec: SessionCodec) -> None:
        self._env = environment()
        self._codec = codec

    def render(
        self,
        request: Request,
        template: str,
        *,
        viewer: Viewer | None = None,
        session: Session | None = None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = self._env.get_template(template).render(
            viewer=viewer,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        secure(response)
        if session is not None:
            self.keep(request, response, session)
        return response

    def keep(self, request: Request, response: Response, session: Session) -> None:
        """Send the session cookie again, marked as used now (the idle clock restarts)."""
        touched = self._codec.touched(session)
        response.set_cookie(
            COOKIE,
            self._codec.encode(touched),
            max_age=self._codec.remaining(touched),
            path=PREFIX,
            httponly=True,
            secure=over_tls(request),
            samesite="strict",
        )


def over_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def redirect(location: str) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303)
    secure(response)
    return response

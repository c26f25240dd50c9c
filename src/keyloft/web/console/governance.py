"""The console's governance form on a client's page (docs/governance.md): the addresses its
token requests may come from (one network a line) and the tokens it may mint a minute (empty:
no limit), saved together as one audited change; a refusal is shown beside its field."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.governance import ALLOWLIST_FIELD, RATE_LIMIT_FIELD
from keyloft.services.client_admin import ClientAnswer
from keyloft.services.console_views import NoSuchClient, NotChanged
from keyloft.web.caller import request_context
from keyloft.web.console import rendering
from keyloft.web.console.dependencies import ConsoleDep, GuardedPostDep
from keyloft.web.console.pages import redirect
from keyloft.web.console.routing import console_router
from keyloft.web.wiring import ServicesDep

router = console_router()
PER_MINUTE = f"{RATE_LIMIT_FIELD}.perMinute"


def read_allowlist(text: str) -> list[str]:
    """One network a line (commas separate too); blank lines are nothing."""
    return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


def read_rate_limit(text: str) -> dict[str, object] | None:
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise ValidationFailed("The limit must be a whole number of tokens.", field=PER_MINUTE)
    return {"perMinute": int(text)}


def _form_field(error: ValidationFailed | Exception) -> str | None:
    """The form field a refusal is about (``ipAllowlist[3]`` is about the list)."""
    field = getattr(error, "field", None) or ""
    if field.startswith(ALLOWLIST_FIELD):
        return ALLOWLIST_FIELD
    if field.startswith(RATE_LIMIT_FIELD):
        return RATE_LIMIT_FIELD
    return None


@router.post("/clients/{client_key}/governance")
async def set_governance(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep, client_key: str
) -> Response:
    answer: ClientAnswer | NotChanged | NoSuchClient
    networks = read_allowlist(post.fields.get(ALLOWLIST_FIELD, ""))
    try:
        limit = read_rate_limit(post.fields.get(RATE_LIMIT_FIELD, ""))
    except ValidationFailed as unread:
        shown = await services.console.client_page(post.actor, client_key)
        answer = shown if isinstance(shown, NoSuchClient) else NotChanged(shown, unread)
    else:
        answer = await services.console.set_governance(
            post.actor,
            client_key,
            networks,
            limit,
            request_context(request),
            if_match=post.etag,
        )
    if isinstance(answer, NoSuchClient):
        return rendering.no_such_client(request, con, post, answer)
    if isinstance(answer, NotChanged):
        # A refusal about a field is shown beside it, with what was typed kept to correct;
        # any other (a stale version, say) above the page.
        field = _form_field(answer.error)
        return rendering.client_page(
            request,
            con,
            post,
            answer.page,
            errors={field: answer.error.message} if field is not None else None,
            problem=answer.error.message if field is None else None,
            status=rendering.status_of(answer.error),
            governance_form={
                ALLOWLIST_FIELD: post.fields.get(ALLOWLIST_FIELD, ""),
                RATE_LIMIT_FIELD: post.fields.get(RATE_LIMIT_FIELD, ""),
            },
        )
    return redirect(f"{rendering.client_path(client_key)}?done=governance-saved")

"""Reading an OAuth 2.0 request's form body, for endpoints that take only the request.

RFC 6749 asks for ``application/x-www-form-urlencoded`` bodies (§3.2), parameters at most
once (§3.1) and no credentials in the query string (§2.3.1).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from keyloft.domain.oauth import InvalidRequest

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 32


async def read_form(request: Request) -> dict[str, str]:
    if request.url.query:
        raise InvalidRequest("Parameters belong in the request body, not the query string.")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != FORM:
        raise InvalidRequest(f"The body must be {FORM}.")
    try:
        text = (await request.body()).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The body is not a valid form.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"The parameter {name!r} is repeated.")
        form[name] = value
    return form

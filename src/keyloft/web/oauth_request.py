"""Reading an OAuth 2.0 request: the form body and how the client authenticates.

RFC 6749 asks for ``application/x-www-form-urlencoded`` bodies (§3.2), parameters at most
once (§3.1), no credentials in the query string (§2.3.1), and exactly one client
authentication method per request (§2.3): ``client_secret_basic`` — whose id and secret are
form-urlencoded *inside* the Basic credentials (Appendix B) — or ``client_secret_post``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request

from keyloft.domain.oauth import InvalidClient, InvalidRequest

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 32


@dataclass(frozen=True, slots=True, repr=False)
class ClientCredentials:
    client_id: str
    secret: str
    method: str  # client_secret_basic | client_secret_post

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, method={self.method!r})"


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


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("Malformed Basic credentials.") from None
    raw_id, colon, raw_secret = decoded.partition(":")
    if not colon:
        raise InvalidRequest("Malformed Basic credentials.")
    return unquote_plus(raw_id), unquote_plus(raw_secret)


def client_credentials(request: Request, form: dict[str, str]) -> ClientCredentials:
    authorization = request.headers.get("authorization")
    in_body = "client_id" in form or "client_secret" in form
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise InvalidClient("Authenticate the client with Basic or in the body.")
        if in_body:
            raise InvalidRequest("Use exactly one client authentication method.")
        client_id, secret = _basic(value)
        method = "client_secret_basic"
    elif in_body:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        method = "client_secret_post"
    else:
        raise InvalidClient("Client authentication is required.")
    if not client_id or not secret:
        raise InvalidClient()
    return ClientCredentials(client_id, secret, method)

"""Reading the console's HTML forms into the requests the services take, and naming the form
field a service's validation error is about.

Only the shape of the input is handled here (text to integers, one access choice and a list
of patterns per entity); every rule about what is allowed stays in the services and domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.requests import Request

from keyloft.domain.clients import ScopeInput
from keyloft.domain.errors import KeyloftError, ValidationFailed
from keyloft.services.client_requests import ClientRequest, CredentialRequest
from keyloft.services.console_views import CERTIFICATE_BOUND, DPOP_BOUND
from keyloft.web.console import credential_forms
from keyloft.web.console.credential_forms import CredentialForm

MAX_FIELDS = 400
NO_ACCESS = "NONE"
ACCESS_CHOICES = (
    (NO_ACCESS, "None"),
    ("READ", "Read"),
    ("WRITE", "Write"),
    ("READWRITE", "Read & write"),
)
FORM_TYPE = "application/x-www-form-urlencoded"
_SCOPE_FIELD = re.compile(r"scopes\[(\d+)\](?:\.(\w+))?")


class FormUnreadable(Exception):
    """The body is not a form this console sends."""


async def read_form(request: Request) -> dict[str, str]:
    """The submitted fields (the last value wins for a repeated name)."""
    body = await request.body()
    if not body:
        return {}
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM_TYPE:
        raise FormUnreadable("Send the form as application/x-www-form-urlencoded.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise FormUnreadable("The form could not be read.") from None
    return dict(pairs)


@dataclass
class ClientForm:
    """What the create and edit forms hold, as typed, for showing them again. The create form
    also holds the client's method and first credential (``credentials``), whether its tokens
    must be DPoP-bound (``dpop_bound``) and whether they are bound to its TLS certificate
    (``certificate_bound``), each as sent: a checked box sends ``true``; the edit form has no
    such fields and leaves them as they are."""

    name: str = ""
    description: str = ""
    expiration_token_time: str = ""
    default_till_id: str = ""
    access: dict[int, str] = field(default_factory=dict)
    resources: dict[int, str] = field(default_factory=dict)
    etag: str = ""
    credentials: CredentialForm = field(default_factory=CredentialForm)
    asks_credentials: bool = False
    dpop_bound: str = ""
    certificate_bound: str = ""

    @classmethod
    def from_fields(cls, fields: dict[str, str], entity_ids: list[int]) -> ClientForm:
        return cls(
            name=fields.get("name", ""),
            description=fields.get("description", ""),
            expiration_token_time=fields.get("expirationTokenTime", "").strip(),
            default_till_id=fields.get("defaultTillId", "").strip(),
            access={e: fields.get(f"access-{e}", NO_ACCESS) for e in entity_ids},
            resources={e: fields.get(f"resources-{e}", "") for e in entity_ids},
            etag=fields.get("etag", ""),
            credentials=CredentialForm.from_fields(fields),
            asks_credentials=credential_forms.METHOD in fields,
            dpop_bound=fields.get(DPOP_BOUND, "").strip(),
            certificate_bound=fields.get(CERTIFICATE_BOUND, "").strip(),
        )

    def chosen(self) -> list[int]:
        """The entities given any access, in form order: the order of the request's scopes."""
        return [entity for entity, access in self.access.items() if access != NO_ACCESS]

    def to_request(self, *, new: bool = False) -> ClientRequest:
        """The create (``new``) or edit form's request; only the create form sets whether the
        client's tokens must be DPoP-bound and whether they are bound to its TLS certificate,
        unchecked (absent) meaning not."""
        return ClientRequest(
            name=self.name,
            description=self.description,
            expiration_token_time=_integer(self.expiration_token_time, "expirationTokenTime"),
            default_till_id=self._till(),
            scopes=[
                ScopeInput(entity, self.access[entity], _patterns(self.resources[entity]))
                for entity in self.chosen()
            ],
            credentials=(
                self.credentials.to_request() if self.asks_credentials else CredentialRequest()
            ),
            dpop_bound=read_flag(self.dpop_bound, DPOP_BOUND) if new else None,
            certificate_bound=(
                read_flag(self.certificate_bound, CERTIFICATE_BOUND) if new else None
            ),
        )

    def _till(self) -> int:
        if not self.default_till_id:
            raise ValidationFailed("Choose the default Till.", field="defaultTillId")
        return _integer(self.default_till_id, "defaultTillId")

    def explain(self, error: KeyloftError) -> tuple[str | None, str]:
        """The form field ``error`` is about (None: the whole form) and its message."""
        if credential_forms.about_credentials(error.field):
            try:
                pasted = len(credential_forms.pasted_keys(self.credentials.jwk))
            except ValidationFailed:
                pasted = 0
            return credential_forms.explain(error, pasted=pasted)
        return self.field_for(error.field), error.message

    def field_for(self, error_field: str | None) -> str | None:
        """The form field a service error names: ``scopes[i].x`` is the i-th chosen entity."""
        if error_field is None:
            return None
        found = _SCOPE_FIELD.match(error_field)
        if found is None:
            return error_field
        chosen = self.chosen()
        index = int(found.group(1))
        if index >= len(chosen):
            return None
        kind = "resources" if found.group(2) == "resources" else "access"
        return f"{kind}-{chosen[index]}"


def _integer(text: str, name: str) -> int:
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise ValidationFailed(f"{name} must be a whole number.", field=name)
    return int(text)


def read_flag(text: str, name: str, *, checkbox: bool = True) -> bool:
    """A yes-or-no field: ``true`` or ``false``; for a ``checkbox`` also nothing, which is
    what an unchecked box sends."""
    if text == "false" or (checkbox and not text):
        return False
    if text == "true":
        return True
    raise ValidationFailed(f"{name} must be true or false.", field=name)


def _patterns(text: str) -> list[str]:
    """One resource pattern per line; blank lines are ignored."""
    return [line.strip() for line in text.splitlines() if line.strip()]

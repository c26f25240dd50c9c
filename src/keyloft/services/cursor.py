"""Page cursors in a readable keyset form: ``{kind}.{id}``, the id of the last row of the page
behind a kind prefix, so one list's cursor fails on another.

Every value matching a kind's published pattern (``cursor_pattern``) is a valid cursor of that
list: it pages from that row on, whether or not this service issued it (a row id that does not
exist is simply a place in the order). The id is bounded to 18 digits, so it always fits the
store's 64-bit ids."""

from __future__ import annotations

import re
from functools import cache

from keyloft.domain.errors import ValidationFailed

CLIENT_CURSOR = "c1"
"""The kind of the clients list's cursors (``GET /v3/integrations/clients``)."""
AUDIT_CURSOR = "a1"
"""The kind of the audit trail's cursors (``GET /v3/integrations/audit``)."""
DELIVERY_CURSOR = "w1"
"""The kind of a webhook's delivery log's cursors."""

MAX_ID_DIGITS = 18


@cache
def cursor_pattern(kind: str) -> str:
    """The pattern (JSON Schema / ECMA 262, and Python ``re.search``) every cursor of ``kind``
    matches: the kind, a dot, and a row id of 1 to 18 digits without a leading zero."""
    return rf"^{re.escape(kind)}\.[1-9][0-9]{{0,{MAX_ID_DIGITS - 1}}}$"


def cursor_max_length(kind: str) -> int:
    """The longest cursor of ``kind``."""
    return len(kind) + 1 + MAX_ID_DIGITS


CLIENT_CURSOR_PATTERN = cursor_pattern(CLIENT_CURSOR)
CLIENT_CURSOR_MAX_LENGTH = cursor_max_length(CLIENT_CURSOR)


def encode_cursor(kind: str, row_id: int) -> str:
    return f"{kind}.{row_id}"


def decode_cursor(kind: str, cursor: str) -> int:
    """The row id in a cursor of ``kind`` (any value the pattern matches whole, without the
    final line feed Python's ``$`` would let in); ValidationFailed otherwise."""
    if re.search(cursor_pattern(kind), cursor) is None or "\n" in cursor:
        raise ValidationFailed(
            f"cursor must be a nextCursor of this list ({kind}.<id>).", field="cursor"
        )
    return int(cursor.removeprefix(f"{kind}."))

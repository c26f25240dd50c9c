"""Opaque page cursors: a row id behind a kind prefix, so one list's cursor fails on another."""

from __future__ import annotations

import base64
import binascii

from keyloft.domain.errors import ValidationFailed


def encode_cursor(kind: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    """The row id in a cursor this service issued for ``kind``; ValidationFailed otherwise."""
    refused = ValidationFailed("cursor is not one this service issued.", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise refused from None
    prefix = f"{kind}:"
    number = raw.removeprefix(prefix)
    if not raw.startswith(prefix) or not number.isdigit() or len(number) > 18:
        raise refused
    return int(number)

"""The v3 envelope: ``{"data": …, "errors": null}`` or ``{"data": null, "errors": [...]}``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

JSON = "application/json"


def dump(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def ok(
    data: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """``extra`` adds members beside ``data`` and ``errors`` (such as a page's cursor)."""
    body = {"data": data, "errors": None, **(extra or {})}
    return Response(dump(body), status_code=status, headers=headers, media_type=JSON)


def ok_json(
    data: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """As ``ok``, with ``data`` already encoded (as ``dump`` would have encoded it)."""
    tail = b"".join(b"," + dump(name) + b":" + dump(value) for name, value in (extra or {}).items())
    body = b'{"data":' + data + b',"errors":null' + tail + b"}"
    return Response(body, headers=headers, media_type=JSON)


def error(
    status: int,
    code: int,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    entry: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        entry["field"] = field
    if extra:
        entry.update(extra)
    return Response(
        dump({"data": None, "errors": [entry]}),
        status_code=status,
        headers=headers,
        media_type=JSON,
    )

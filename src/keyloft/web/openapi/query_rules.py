"""Rules between query parameters that JSON Schema cannot state, published on an operation as
the vendor extension ``x-keyloft-query-rules``: a list of objects, each one of two shapes.

``{"rule": "before", "earlier": A, "later": B}``
    When both parameters ``A`` and ``B`` are given, the instant ``A`` names must be strictly
    earlier than the instant ``B`` names. Otherwise the answer is 400 naming ``A``.

``{"rule": "max-span", "from": A, "to": B, "days": {V: N, ...}, "by": P, "default": V0}``
    The instants ``A`` and ``B`` name may be at most ``days[V]`` days apart (``B - A <= N``
    days), where ``V`` is the value of parameter ``P`` (``V0`` when ``P`` is absent).
    Otherwise the answer is 400 naming ``A``.

Each rule is checked after the operation's defaults fill absent parameters; the operation's
parameter descriptions say what those defaults are (for usage queries: ``to`` is now, ``from``
is 7 days before ``to`` by hour and 90 days by day, so a query naming neither keeps both
rules)."""

from __future__ import annotations

from typing import Any

EXTENSION = "x-keyloft-query-rules"


def before(earlier: str, later: str) -> dict[str, Any]:
    """``earlier`` must name an instant strictly before ``later``'s."""
    return {"rule": "before", "earlier": earlier, "later": later}


def max_span(
    start: str, end: str, *, days: dict[str, int], by: str, default: str
) -> dict[str, Any]:
    """``start`` and ``end`` at most ``days[value of by]`` days apart (``default``: ``by``'s
    value when absent)."""
    return {
        "rule": "max-span",
        "from": start,
        "to": end,
        "days": dict(days),
        "by": by,
        "default": default,
    }


def rules(*stated: dict[str, Any]) -> dict[str, Any]:
    """An operation's ``openapi_extra`` stating ``stated``."""
    return {EXTENSION: list(stated)}

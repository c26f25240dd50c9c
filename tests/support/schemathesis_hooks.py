"""Schemathesis hooks that teach it the rules the OpenAPI document states beyond JSON Schema's
keywords (``keyloft.web.openapi.rules``): the formats ``re2``, ``cidr`` and ``rfc4514-dn``
get generators of valid values, and before a well-formed (positive) request is sent, the
rules ``x-keyloft-distinct``, ``x-keyloft-public-jwks`` and ``x-keyloft-query-rules`` are
applied to it, so that a request the document calls valid really is.

It also gives well-formed requests the node's real data where a field names what only its
state knows (``KEYLOFT_SCHEMATHESIS_STATE``: the demo org's Till ids, scope entity ids and
token lifetime cap), as schemathesis's own configuration does for path parameters: without
them a created client is almost never a valid one, and the stateful phase's create → read →
update → rotate → delete chain would never start. (A value the org lacks is a 409, tested
by the API's own tests.) For the same reason such an operation may start a stateful
scenario, although schemathesis reads ``defaultTillId`` as a reference to a resource no
operation lists.

Loaded by the conformance test with ``SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks``.
Requests meant to be invalid (negative cases) are never touched.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import schemathesis
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm
from schemathesis.specs.openapi import stateful

from keyloft.web.openapi import rules

KNOWN_FORMATS = {rules.RE2, rules.CIDR, rules.DN}
KNOWN_EXTENSIONS = {rules.DISTINCT, rules.PUBLIC_JWKS, "x-keyloft-query-rules"}

# Each a whole RE2 unit, so any concatenation of them is a valid pattern.
_RE2_PIECES = [".*", "/", "v3", "[a-z]+", "[0-9]*", "x?", r"\.", "(ab|cd)", "targetGroups"]
_DN_TYPES = ["CN", "O", "OU", "C", "L", "ST", "DC"]
_DN_VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)


def _network(version: int) -> st.SearchStrategy[str]:
    bits = 32 if version == 4 else 128
    return st.tuples(st.ip_addresses(v=version), st.integers(0, bits)).map(
        lambda pair: str(ipaddress.ip_network(f"{pair[0]}/{pair[1]}", strict=False))
    )


schemathesis.openapi.format(
    rules.RE2, st.lists(st.sampled_from(_RE2_PIECES), min_size=1, max_size=6).map("".join)
)
schemathesis.openapi.format(rules.CIDR, st.one_of(_network(4), _network(6)))
schemathesis.openapi.format(
    rules.DN,
    st.lists(
        st.tuples(st.sampled_from(_DN_TYPES), _DN_VALUE).map("=".join), min_size=1, max_size=4
    ).map(",".join),
)


@cache
def _public_jwks() -> dict[str, Any]:
    """A key set the API accepts: one P-256 public key."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = json.loads(ECAlgorithm.to_jwk(key))
    return {"keys": [jwk | {"kid": "conformance"}]}


def _resolve(document: dict[str, Any], schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def _marked(
    document: dict[str, Any], schema: Any, path: tuple[Any, ...] = (), seen: int = 0
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every (path, schema) under ``schema`` that carries a rule extension; ``"*"`` in a path
    stands for every item of an array or value of an object."""
    schema = _resolve(document, schema)
    if not isinstance(schema, dict) or seen > 12:
        return
    if any(key in schema for key in (rules.DISTINCT, rules.PUBLIC_JWKS)):
        yield path, schema
    for name, part in (schema.get("properties") or {}).items():
        yield from _marked(document, part, (*path, name), seen + 1)
    if isinstance(schema.get("items"), dict):
        yield from _marked(document, schema["items"], (*path, "*"), seen + 1)
    for branch in schema.get("anyOf") or []:
        yield from _marked(document, branch, path, seen + 1)


def _places(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every place ``path`` names in ``value``."""
    if not path:
        return
    head, rest = path[0], path[1:]
    if head == "*":
        keys = range(len(value)) if isinstance(value, list) else ()
    else:
        keys = [head] if isinstance(value, dict) and head in value else []
    for key in keys:
        if rest:
            yield from _places(value[key], rest)
        else:
            yield value, key


def _apply_body_rules(document: dict[str, Any], operation: dict[str, Any], body: Any) -> None:
    content = (operation.get("requestBody") or {}).get("content") or {}
    schema = (content.get("application/json") or {}).get("schema")
    if schema is None or not isinstance(body, dict):
        return
    for path, marked in _marked(document, schema):
        for container, key in _places(body, path):
            value = container[key]
            if marked.get(rules.PUBLIC_JWKS) and isinstance(value, dict):
                container[key] = _public_jwks()
            field = marked.get(rules.DISTINCT)
            if field and isinstance(value, list):
                seen: set[str] = set()
                kept = []
                for item in value:
                    mark = json.dumps(_number(item.get(field) if isinstance(item, dict) else item))
                    if mark not in seen:
                        seen.add(mark)
                        kept.append(item)
                container[key] = kept


def _number(value: Any) -> Any:
    """1.0 and 1 are one JSON number."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _moment(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _apply_query_rules(operation: dict[str, Any], query: dict[str, Any]) -> None:
    """Keep ``from`` before ``to`` and within the span the interval allows, by moving
    ``from`` (the rules of ``x-keyloft-query-rules``)."""
    for rule in operation.get("x-keyloft-query-rules") or []:
        if rule.get("rule") == "before":
            earlier, later = rule["earlier"], rule["later"]
            start, end = _moment(query.get(earlier)), _moment(query.get(later))
            if start is not None and end is not None and start >= end:
                query.pop(earlier)
        elif rule.get("rule") == "max-span":
            interval = query.get(rule["by"]) or rule["default"]
            days = rule["days"].get(interval)
            start, end = _moment(query.get(rule["from"])), _moment(query.get(rule["to"]))
            if days is None or start is None:
                continue
            end = end or datetime.now(UTC)
            if start >= end or end - start > timedelta(days=days):
                query[rule["from"]] = (end - timedelta(days=days) + timedelta(hours=1)).isoformat()
                if end - timedelta(days=days) < datetime(1, 2, 1, tzinfo=UTC):
                    query.pop(rule["from"])


@cache
def _state() -> dict[str, Any]:
    state: dict[str, Any] = json.loads(os.environ.get("KEYLOFT_SCHEMATHESIS_STATE", "{}"))
    return state


def _one_of(value: Any, known: list[int]) -> Any:
    if not known or value in known:
        return value
    return known[value % len(known)] if isinstance(value, int) else value


STATE_FIELDS = ("defaultTillId", "expirationTokenTime", "scopes")
"""The client fields whose valid values only the org's state knows."""


_names = itertools.count(1)


def _apply_state(body: Any) -> None:
    state = _state()
    if not state or not isinstance(body, dict):
        return
    # A client's name is unique among the org's valid clients: a drawn one (often "0") would
    # be taken after the first create.
    for field in ("name", "client_name"):
        if isinstance(body.get(field), str) and ("scopes" in body or field == "client_name"):
            body[field] = f"{body[field][:90]} {next(_names)}"
    if "defaultTillId" in body:
        body["defaultTillId"] = _one_of(body["defaultTillId"], state["tills"])
    ttl = body.get("expirationTokenTime")
    if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl > state["maxTokenTtl"]:
        body["expirationTokenTime"] = ttl % state["maxTokenTtl"] + 1
    for scope in body.get("scopes") or ():
        if isinstance(scope, dict) and "entityId" in scope:
            scope["entityId"] = _one_of(scope["entityId"], state["entities"])


_likely_root = stateful.is_likely_root_transition


def _root_with_state(operation: Any, node: Any, produced_anywhere: set[str]) -> bool:
    """A create whose only unlisted references are fields ``_apply_state`` fills in starts
    scenarios as any other create does."""
    if _state() and operation.method == "post" and node is not None:
        unlisted = {
            slot.parameter_name
            for slot in node.inputs
            if slot.resource_field is not None and slot.resource.name not in produced_anywhere
        }
        if unlisted and unlisted <= set(STATE_FIELDS) | {"entityId"}:
            return True
    return bool(_likely_root(operation, node, produced_anywhere))


stateful.is_likely_root_transition = _root_with_state


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    document = case.operation.schema.raw_schema
    operation = case.operation.definition.raw
    _apply_state(case.body)
    _apply_body_rules(document, operation, case.body)
    if isinstance(case.query, dict):
        _apply_query_rules(operation, case.query)

"""The words the OpenAPI document uses for rules of the API: the patterns of its strings, the
formats JSON Schema has no keyword for, and the ``x-keyloft-*`` extensions that state a rule
across fields or items.

| in the document | meaning |
| --- | --- |
| ``format: re2`` | an RE2 pattern (``docs/scopes.md``): valid RE2 syntax |
| ``format: cidr`` | an IPv4 or IPv6 network, no host bits set (``203.0.113.0/24``) |
| ``format: rfc4514-dn`` | a distinguished name in RFC 4514 form (``CN=partner,O=Acme,C=DE``) |
| ``x-keyloft-distinct: <field>`` | on an array of objects: no two items share ``<field>`` |
| ``x-keyloft-public-jwks: true`` | a JWK Set of usable public keys (RSA ≥ 2048 bits, EC, OKP) |
| ``x-keyloft-query-rules`` | on an operation: ``from`` before ``to``, how far apart |

A generator of requests (the conformance test's hooks) reads these to keep its requests valid.
"""

from __future__ import annotations

from pydantic.config import JsonDict

from keyloft.domain.governance import MAX_SECRET_LIFETIME

RE2 = "re2"
CIDR = "cidr"
DN = "rfc4514-dn"
DISTINCT = "x-keyloft-distinct"
PUBLIC_JWKS = "x-keyloft-public-jwks"

# What Python's str.isspace() calls whitespace, which "blank" means to the API.
_SPACE = r"\x00-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Rules about every character are said as "no character of this class" (an unanchored
# pattern under ``not``): an anchored ``^...$`` would also admit a final line feed, since
# ``$`` matches before one in Python's regular expressions (and in the tools built on them).
NOT_BLANK: JsonDict = {"pattern": f"[^{_SPACE}]", "not": {"pattern": r"[\x00-\x1f]"}}
"""Some character that is not a space, and no control character."""
NO_CONTROL: JsonDict = {"not": {"pattern": r"[\x00-\x1f\x7f]"}}
NO_CONTROL_BUT_LINES: JsonDict = {"not": {"pattern": r"[\x00-\x08\x0b\x0c\x0e-\x1f]"}}
"""No control character but tab, line feed and carriage return."""


def matching(pattern: str) -> JsonDict:
    """A whole-value ``pattern`` (``^...$``), and no line feed, which ``$`` would let in."""
    return {"pattern": pattern, "not": {"pattern": r"\n"}}


HTTPS_URL = r"^https://[A-Za-z0-9._~-]+(:[0-9]{1,5})?([/?][^\x00-\x20#]*)?$"
"""An https URL naming a host, without credentials, spaces or a fragment."""
_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
DNS_NAME = rf"^{_LABEL}(\.{_LABEL})*$"
"""A DNS name: labels of letters, digits, ``_`` and inner hyphens (no wildcard)."""
ABSOLUTE_URI = r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$"
EMAIL = r"^[^\s]+@[^\s@]+$"

_SCOPE_ENTITY = r"[\x21\x23-\x5b\x5d-\x7e]+"
_PERMISSION = r"([Rr][Ee][Aa][Dd]([Ww][Rr][Ii][Tt][Ee])?|[Ww][Rr][Ii][Tt][Ee])"
SCOPE = rf"^{_SCOPE_ENTITY}:{_PERMISSION}( {_SCOPE_ENTITY}:{_PERMISSION})*$"
"""An OAuth scope here: space-separated ``<Entity>:<read|write|readwrite>`` (any case), the
entity in RFC 6749's scope characters."""
JSON_SAFE_MAX = 2**53 - 1
"""The largest id a JSON number carries exactly everywhere (RFC 7493 §2.2)."""

SECRET_LIFETIME: JsonDict = {
    "type": "integer",
    "anyOf": [{"const": 0}, {"minimum": 60, "maximum": MAX_SECRET_LIFETIME}],
}


def nullable(schema: JsonDict) -> JsonDict:
    """``schema`` or null: for a field that null clears or leaves as it is."""
    return {"anyOf": [schema, {"type": "null"}]}


def not_null(schema: JsonDict) -> None:
    """For ``json_schema_extra``: an optional field that may be left out but is never null."""
    alternatives = schema.pop("anyOf", None)
    if isinstance(alternatives, list):
        kinds = [kind for kind in alternatives if kind != {"type": "null"}]
        if len(kinds) == 1 and isinstance(kinds[0], dict):
            schema.update(kinds[0])
    schema.pop("default", None)

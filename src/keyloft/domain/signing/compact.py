"""The compact serialisation of a JWS (RFC 7515 7.1) as Keyloft writes and reads it:
base64url segments without padding, the shape of a whole token, the access-token ``typ``
values, and the header a key writes (serialised once per key and ``typ``).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Final

ACCESS_TOKEN_TYPES = frozenset({"JWT", "at+jwt"})

# Three base64url segments (an empty signature is refused later, by its header's algorithm
# or by the signature check): one regular expression checks the whole token's alphabet.
COMPACT_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

# json.dumps(separators=(",", ":")) without building an encoder on every call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def unb64url(segment: str) -> bytes:
    """A base64url segment already matched by ``COMPACT_TOKEN`` (so of the right alphabet)."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def payload_segment(claims: dict[str, Any]) -> bytes:
    """The claims as the token's second segment: compact JSON, base64url."""
    return b64url(_COMPACT_JSON.encode(claims).encode())


def header_prefix(algorithm: str, kid: str, typ: str) -> bytes:
    """``base64url(header) + "."`` of a key's tokens, header members sorted."""
    header = {"alg": algorithm, "kid": kid, "typ": typ}
    return b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode()) + b"."

"""OAuth 2.0 rules: scope strings (RFC 6749 §3.3) and how a requested scope narrows a grant set.

A scope item is ``<Entity>:<read|write|readwrite>`` (``TargetGroups:read``). A request without
``scope`` gets everything the client holds; with one, each item must be covered by the client's
grant for that entity, and the token gets exactly the items asked for (keeping the grant's
resource patterns).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from keyloft.domain.errors import KeyloftError
from keyloft.domain.scopes import Grant, Permission, ScopeEntity

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
_PERMISSIONS = {
    "read": Permission.READ,
    "write": Permission.WRITE,
    "readwrite": Permission.READWRITE,
}


class OAuthError(KeyloftError):
    """An error answered in RFC 6749 §5.2 form: ``{"error", "error_description"}``."""

    error = "invalid_request"
    status = 400
    code = 6000


class InvalidRequest(OAuthError):
    error = "invalid_request"
    code = 6001


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401
    code = 6002
    default_message = "Client authentication failed."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    code = 6003


class InvalidScope(OAuthError):
    error = "invalid_scope"
    code = 6004


def parse_scope(scope: str) -> list[tuple[str, Permission]]:
    """``"A:read B:write"`` → ``[("A", READ), ("B", WRITE)]``; malformed → InvalidScope."""
    if scope == "":
        raise InvalidScope("scope is empty.")
    items: list[tuple[str, Permission]] = []
    for token in scope.split(" "):
        if not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidScope("scope holds an empty item or a character RFC 6749 forbids.")
        entity, colon, permission = token.rpartition(":")
        if not colon or not entity or permission.lower() not in _PERMISSIONS:
            raise InvalidScope(f"scope item {token!r} is not <Entity>:<read|write|readwrite>.")
        items.append((entity, _PERMISSIONS[permission.lower()]))
    return items


def narrow(
    held: Sequence[Grant], entities: Sequence[ScopeEntity], scope: str | None
) -> tuple[Grant, ...]:
    """The grants a token gets for ``scope``; InvalidScope if it asks beyond ``held``."""
    if scope is None:
        return tuple(held)
    by_name = {entity.name.lower(): entity for entity in entities}
    by_entity = {grant.entity_id: grant for grant in held}
    wanted: dict[int, Grant] = {}
    for name, permission in parse_scope(scope):
        entity = by_name.get(name.lower())
        grant = by_entity.get(entity.id) if entity else None
        if entity is None or grant is None or not grant.permission.covers(permission):
            raise InvalidScope(
                f"scope {name}:{permission.value.lower()} exceeds the client's grants."
            )
        previous = wanted.get(entity.id)
        if previous is not None and previous.permission is not permission:
            permission = Permission.READWRITE
        wanted[entity.id] = Grant(entity.id, permission, grant.resources)
    return tuple(wanted[entity_id] for entity_id in sorted(wanted))


def scope_string(grants: Sequence[Grant], entities: Sequence[ScopeEntity]) -> str:
    names = {entity.id: entity.name for entity in entities}
    return " ".join(
        f"{names[g.entity_id]}:{g.permission.value.lower()}" for g in grants if g.entity_id in names
    )


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5: the DPoP proof of a token request does not hold (``reason`` says why, for
    the log and the metrics only)."""

    error = "invalid_dpop_proof"
    code = 6005
    default_message = "The DPoP proof is invalid."

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message)
        self.reason: str | None = reason


class UseDpopNonce(OAuthError):
    """RFC 9449 §8: the proof must carry the server's current nonce, sent in ``DPoP-Nonce``."""

    error = "use_dpop_nonce"
    code = 6006
    default_message = "Authorization server requires nonce in DPoP proof."

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self.nonce = nonce
        self.reason: str | None = "nonce"

"""Who is acting: an admin user or a Till, possibly through a client's access token."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from keyloft.domain.scopes import Grant


class PrincipalKind(enum.StrEnum):
    ADMIN_USER = "ADMIN_USER"
    TILL = "TILL"


@dataclass(frozen=True, slots=True)
class Principal:
    """An admin user or Till as shown in attribution."""

    id: int
    org_id: int
    kind: PrincipalKind
    code: str
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller of one request.

    ``grants`` is None for a Basic-authenticated admin or Till (full rights in its org) and the
    token's effective grants when the call is made with a client's access token.
    """

    principal: Principal
    grants: tuple[Grant, ...] | None = None
    client_id: int | None = None

    @property
    def org_id(self) -> int:
        return self.principal.org_id

"""What several repositories share: reading principals (Admin users and Tills) from rows,
the row and query types of Core reads, and the guard on caller-supplied text."""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import Row, Select

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.storage.tables import PrincipalRow

# A Core row or query of any columns.
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
AnySelect: TypeAlias = Select[*tuple[Any, ...]]

# The columns ``to_principal`` reads, for Core reads of principals.
ACTOR_COLUMNS = (
    PrincipalRow.id,
    PrincipalRow.org_id,
    PrincipalRow.kind,
    PrincipalRow.code,
    PrincipalRow.name,
    PrincipalRow.description,
)


def unstorable(text: str) -> bool:
    """PostgreSQL text cannot hold NUL: a lookup by such a caller-supplied string finds nothing
    (and must not reach the driver, which rejects it)."""
    return "\x00" in text


def to_principal(row: PrincipalRow | AnyRow) -> Principal:
    return Principal(
        id=row.id,
        org_id=row.org_id,
        kind=PrincipalKind(row.kind),
        code=row.code,
        name=row.name,
        description=row.description,
    )

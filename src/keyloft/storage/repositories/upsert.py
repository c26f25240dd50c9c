"""``INSERT … ON CONFLICT`` in the dialect of the session's database (SQLite or PostgreSQL),
which both spell alike but SQLAlchemy builds per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession, table: Any) -> Any:
    """An insert with ``on_conflict_do_nothing``/``on_conflict_do_update`` for ``table``."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)

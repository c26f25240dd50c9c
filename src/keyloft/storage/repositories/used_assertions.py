"""Client assertions already used, by digest, until they expire: the store's single-use
check, for nodes that share no Redis."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.storage.repositories.upsert import insert_for
from keyloft.storage.tables import UsedAssertionRow


class SqlUsedAssertions:
    """Implements ``keyloft.services.ports.UsedAssertionRepository``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def claim(self, digest: str, expires_at: datetime) -> bool:
        # One statement whose outcome is the answer: two nodes claiming the same digest at
        # once cannot both insert it, whatever the isolation level.
        statement = (
            insert_for(self._s, UsedAssertionRow)
            .values(digest=digest, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=["digest"])
        )
        result = await self._s.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def purge(self, now: datetime) -> int:
        result = await self._s.execute(
            delete(UsedAssertionRow).where(UsedAssertionRow.expires_at < now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

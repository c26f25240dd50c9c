"""Revoked tokens: their ids (jti) until the tokens would have expired anyway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.services.ports import Changes
from keyloft.storage.repositories.rows import unstorable
from keyloft.storage.tables import RevokedTokenRow


class SqlRevocations:
    """Implements ``keyloft.services.ports.RevocationRepository``."""

    def __init__(self, session: AsyncSession, changes: Changes) -> None:
        self._s = session
        self._changes = changes

    async def add(self, jti: str, client_id: int, expires_at: datetime) -> None:
        if await self._s.get(RevokedTokenRow, jti) is None:
            self._s.add(RevokedTokenRow(jti=jti, client_id=client_id, expires_at=expires_at))
            await self._s.flush()
        self._changes.revoked[jti] = expires_at.timestamp()

    async def is_revoked(self, jti: str) -> bool:
        if unstorable(jti):
            return False
        found = await self._s.scalar(select(RevokedTokenRow.jti).where(RevokedTokenRow.jti == jti))
        return found is not None

    async def unexpired(self, now: datetime) -> list[tuple[str, datetime]]:
        rows = await self._s.execute(
            select(RevokedTokenRow.jti, RevokedTokenRow.expires_at).where(
                RevokedTokenRow.expires_at > now
            )
        )
        return [(jti, expires) for jti, expires in rows]

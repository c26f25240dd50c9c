"""Registered clients (RFC 7591/7592): the hash of each one's registration access token, found
by the client's key, replaced only while the replaced hash is still the stored one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.registration import Registration
from keyloft.storage.repositories.rows import unstorable
from keyloft.storage.tables import ClientRegistrationRow, ClientRow

_ROW = ClientRegistrationRow


class SqlRegistrations:
    """Implements ``keyloft.services.ports.RegistrationRepository``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(
        self, client_id: int, token_hash: str, *, auth_method: str, now: datetime
    ) -> None:
        self._s.add(
            _ROW(
                client_id=client_id,
                token_hash=token_hash,
                token_endpoint_auth_method=auth_method,
                issued_at=now,
            )
        )
        await self._s.flush()

    async def find(self, client_key: str) -> Registration | None:
        if unstorable(client_key):
            return None
        row = await self._s.scalar(
            select(_ROW)
            .join(ClientRow, ClientRow.id == _ROW.client_id)
            .where(ClientRow.client_key == client_key)
        )
        if row is None:
            return None
        return Registration(
            client_id=row.client_id,
            token_hash=row.token_hash,
            auth_method=row.token_endpoint_auth_method,
            issued_at=row.issued_at,
            rotated_at=row.rotated_at,
        )

    async def rotate(
        self,
        client_id: int,
        token_hash: str,
        *,
        replacing: str,
        auth_method: str,
        now: datetime,
    ) -> bool:
        # One conditional statement: of two updates with the same token, one replaces it.
        result = await self._s.execute(
            update(_ROW)
            .where(_ROW.client_id == client_id, _ROW.token_hash == replacing)
            .values(token_hash=token_hash, token_endpoint_auth_method=auth_method, rotated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def remove(self, client_id: int) -> None:
        await self._s.execute(delete(_ROW).where(_ROW.client_id == client_id))

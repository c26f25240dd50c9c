"""Signing keys: the encrypted private keys that sign access tokens, and their lifetimes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.services.ports import StoredKey
from keyloft.storage.tables import SigningKeyRow


class SqlSigningKeys:
    """Implements ``keyloft.services.ports.SigningKeyRepository``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def list(self) -> list[StoredKey]:
        rows = await self._s.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created_at))
        return [
            StoredKey(r.kid, r.algorithm, r.private_key, r.created_at, r.activates_at, r.retired_at)
            for r in rows
        ]

    async def add(self, key: StoredKey, public_jwk: dict[str, object]) -> None:
        self._s.add(
            SigningKeyRow(
                kid=key.kid,
                algorithm=key.algorithm,
                private_key=key.encrypted_private_key,
                public_jwk=public_jwk,
                created_at=key.created_at,
                activates_at=key.activates_at,
                retired_at=key.retired_at,
            )
        )
        await self._s.flush()

    async def replace_encrypted(self, kid: str, encrypted_private_key: str) -> None:
        await self._s.execute(
            update(SigningKeyRow)
            .where(SigningKeyRow.kid == kid)
            .values(private_key=encrypted_private_key)
        )

    async def retire(self, kid: str, at: datetime) -> bool:
        result = await self._s.execute(
            update(SigningKeyRow)
            .where(SigningKeyRow.kid == kid, SigningKeyRow.retired_at.is_(None))
            .values(retired_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

"""Usage counts per client and hour (``client_usage``): a flush adds its batch with
``INSERT … ON CONFLICT DO UPDATE SET count = count + excluded.count``, up to ``CHUNK``
counters per statement; reads sum by hour, by client, or over an org."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.usage import TOKENS, UsageRow
from keyloft.services.ports import UsageKey
from keyloft.storage.repositories.upsert import insert_for
from keyloft.storage.tables import ClientUsageRow

CHUNK = 1000
"""Counters per statement: 6,000 bound values, well under SQLite's limit of 32,766."""

_T = ClientUsageRow.__table__


class SqlUsage:
    """Implements ``keyloft.services.ports.UsageRepository``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, counts: Mapping[UsageKey, int]) -> None:
        rows = [
            {
                "org_id": org_id,
                "client_id": client_id,
                "hour": hour,
                "metric": metric,
                "reason": reason,
                "count": count,
            }
            for (org_id, client_id, hour, metric, reason), count in counts.items()
        ]
        for first in range(0, len(rows), CHUNK):
            statement = insert_for(self._s, ClientUsageRow).values(rows[first : first + CHUNK])
            statement = statement.on_conflict_do_update(
                index_elements=["client_id", "hour", "metric", "reason"],
                set_={"count": _T.c.count + statement.excluded.count},
            )
            await self._s.execute(statement)

    async def client_hours(
        self, client_id: int, since: datetime, until: datetime
    ) -> list[UsageRow]:
        statement = select(_T.c.hour, _T.c.metric, _T.c.reason, _T.c.count).where(
            _T.c.client_id == client_id, _T.c.hour >= since, _T.c.hour < until
        )
        result = await self._s.execute(statement)
        return [UsageRow(hour, metric, reason, count) for hour, metric, reason, count in result]

    async def org_hours(self, org_id: int, since: datetime, until: datetime) -> list[UsageRow]:
        total = func.sum(_T.c.count)
        statement = (
            select(_T.c.hour, _T.c.metric, _T.c.reason, total)
            .where(_T.c.org_id == org_id, _T.c.hour >= since, _T.c.hour < until)
            .group_by(_T.c.hour, _T.c.metric, _T.c.reason)
        )
        result = await self._s.execute(statement)
        return [
            UsageRow(hour, metric, reason, int(count)) for hour, metric, reason, count in result
        ]

    async def top_clients(
        self, org_id: int, since: datetime, until: datetime, *, limit: int
    ) -> list[tuple[int, dict[str, int]]]:
        in_range = (_T.c.org_id == org_id, _T.c.hour >= since, _T.c.hour < until)
        tokens = func.sum(_T.c.count).filter(_T.c.metric == TOKENS)
        everything = func.sum(_T.c.count)
        top = await self._s.execute(
            select(_T.c.client_id)
            .where(*in_range)
            .group_by(_T.c.client_id)
            .order_by(func.coalesce(tokens, 0).desc(), everything.desc(), _T.c.client_id)
            .limit(limit)
        )
        ids = [client_id for (client_id,) in top]
        if not ids:
            return []
        totals: dict[int, dict[str, int]] = {client_id: {} for client_id in ids}
        result = await self._s.execute(
            select(_T.c.client_id, _T.c.metric, everything)
            .where(*in_range, _T.c.client_id.in_(ids))
            .group_by(_T.c.client_id, _T.c.metric)
        )
        for client_id, metric, count in result:
            totals[client_id][metric] = int(count)
        return [(client_id, totals[client_id]) for client_id in ids]

    async def purge(self, before: datetime) -> int:
        result = await self._s.execute(delete(ClientUsageRow).where(ClientUsageRow.hour < before))
        return int(getattr(result, "rowcount", 0) or 0)

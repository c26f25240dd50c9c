"""Webhooks and their outbox: subscriptions per org, one delivery row per (event, subscribed
webhook) written in the change's transaction, and the lease by which one node at a time claims
a delivery for an attempt.

Claiming is one statement shape on both databases: the due rows are selected ``FOR UPDATE SKIP
LOCKED`` (PostgreSQL: concurrent claimers pass over each other's rows; SQLite renders no lock
clause, its writers being serialised by ``BEGIN IMMEDIATE``), then each is taken by an
``UPDATE`` that repeats the due-and-unleased condition, so a row is claimed by at most one
claimer even if the lock clause did nothing.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.webhooks import (
    DELIVERED,
    PENDING,
    Delivery,
    Event,
    ExpiringSecret,
    Webhook,
    new_message_id,
    payload,
)
from keyloft.services.ports import ClaimedDelivery
from keyloft.storage.tables import ClientRow, WebhookDeliveryRow, WebhookRow

_D = WebhookDeliveryRow


def _webhook(row: WebhookRow) -> Webhook:
    return Webhook(
        id=row.id,
        org_id=row.org_id,
        url=row.url,
        events=tuple(row.events),
        description=row.description,
        created_at=row.created_at,
    )


def _delivery(row: WebhookDeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        message_id=row.message_id,
        event_type=row.event_type,
        payload=row.payload,
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )


def _due(now: datetime) -> list[ColumnElement[bool]]:
    return [
        _D.status == PENDING,
        _D.next_attempt_at <= now,
        or_(_D.claimed_until.is_(None), _D.claimed_until <= now),
    ]


class SqlWebhooks:
    """Implements ``keyloft.services.ports.WebhookRepository``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(
        self,
        *,
        org_id: int,
        url: str,
        events: Sequence[str],
        description: str,
        sealed_secret: str,
        now: datetime,
    ) -> Webhook:
        row = WebhookRow(
            org_id=org_id,
            url=url,
            events=list(events),
            description=description,
            secret=sealed_secret,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return _webhook(row)

    async def list(self, org_id: int) -> list[Webhook]:
        rows = await self._s.scalars(
            select(WebhookRow).where(WebhookRow.org_id == org_id).order_by(WebhookRow.id)
        )
        return [_webhook(row) for row in rows]

    async def get(self, org_id: int, webhook_id: int) -> Webhook | None:
        row = await self._s.scalar(
            select(WebhookRow).where(WebhookRow.org_id == org_id, WebhookRow.id == webhook_id)
        )
        return _webhook(row) if row is not None else None

    async def remove(self, org_id: int, webhook_id: int) -> bool:
        if await self.get(org_id, webhook_id) is None:
            return False
        # Not left to ON DELETE CASCADE: SQLite enforces foreign keys only when asked to.
        await self._s.execute(delete(_D).where(_D.webhook_id == webhook_id))
        await self._s.execute(delete(WebhookRow).where(WebhookRow.id == webhook_id))
        return True

    async def enqueue(
        self, org_id: int, event: Event, now: datetime, *, dedupe: str | None = None
    ) -> int:
        subscribed = [hook for hook in await self.list(org_id) if event.type in hook.events]
        if dedupe is not None and subscribed:
            queued = set(
                await self._s.scalars(
                    select(_D.webhook_id).where(
                        _D.dedupe_key == dedupe, _D.webhook_id.in_([h.id for h in subscribed])
                    )
                )
            )
            subscribed = [hook for hook in subscribed if hook.id not in queued]
        body = payload(event, now)
        for hook in subscribed:
            self._s.add(
                _D(
                    webhook_id=hook.id,
                    message_id=new_message_id(),
                    event_type=event.type,
                    dedupe_key=dedupe,
                    payload=body,
                    status=PENDING,
                    attempts=0,
                    created_at=now,
                    retry_from=now,
                    next_attempt_at=now,
                )
            )
        if subscribed:
            await self._s.flush()
        return len(subscribed)

    async def claim(
        self, *, claim: str, now: datetime, lease: float, limit: int
    ) -> builtins.list[ClaimedDelivery]:
        due = (
            select(_D.id)
            .where(*_due(now))
            .order_by(_D.next_attempt_at, _D.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        until = now + timedelta(seconds=lease)
        taken: list[int] = []
        for delivery_id in (await self._s.scalars(due)).all():
            result = await self._s.execute(
                update(_D)
                .where(_D.id == delivery_id, *_due(now))
                .values(
                    claimed_by=claim,
                    claimed_until=until,
                    attempts=_D.attempts + 1,
                    last_attempt_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                taken.append(delivery_id)
        if not taken:
            return []
        rows = await self._s.execute(
            select(_D, WebhookRow)
            .join(WebhookRow, WebhookRow.id == _D.webhook_id)
            .where(_D.id.in_(taken))
            .order_by(_D.id)
            .execution_options(populate_existing=True)
        )
        return [
            ClaimedDelivery(_delivery(d), hook.url, hook.secret, claim, until, d.retry_from)
            for d, hook in rows
        ]

    async def finish(
        self,
        delivery_id: int,
        *,
        claim: str,
        now: datetime,
        status: str,
        next_attempt_at: datetime | None,
        status_code: int | None,
        error: str | None,
    ) -> bool:
        result = await self._s.execute(
            update(_D)
            .where(_D.id == delivery_id, _D.claimed_by == claim)
            .values(
                status=status,
                next_attempt_at=next_attempt_at,
                claimed_by=None,
                claimed_until=None,
                last_status=status_code,
                last_error=error[:500] if error else None,
                delivered_at=now if status == DELIVERED else None,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def deliveries(
        self, webhook_id: int, *, before_id: int | None, limit: int
    ) -> builtins.list[Delivery]:
        statement = select(_D).where(_D.webhook_id == webhook_id)
        if before_id is not None:
            statement = statement.where(_D.id < before_id)
        rows = await self._s.scalars(statement.order_by(_D.id.desc()).limit(limit))
        return [_delivery(row) for row in rows]

    async def redeliver(self, webhook_id: int, delivery_id: int, now: datetime) -> Delivery | None:
        result = await self._s.execute(
            update(_D)
            .where(and_(_D.id == delivery_id, _D.webhook_id == webhook_id))
            .values(status=PENDING, attempts=0, retry_from=now, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        row = await self._s.scalar(
            select(_D).where(_D.id == delivery_id).execution_options(populate_existing=True)
        )
        return _delivery(row) if row is not None else None

    async def sealed_secrets(self) -> builtins.list[tuple[int, str]]:
        rows = await self._s.execute(
            select(WebhookRow.id, WebhookRow.secret).order_by(WebhookRow.id)
        )
        return [(webhook_id, sealed) for webhook_id, sealed in rows]

    async def replace_secret(self, webhook_id: int, sealed_secret: str) -> None:
        await self._s.execute(
            update(WebhookRow).where(WebhookRow.id == webhook_id).values(secret=sealed_secret)
        )

    async def expiring_secrets(
        self, now: datetime, until: datetime
    ) -> builtins.list[ExpiringSecret]:
        with_webhooks = select(WebhookRow.org_id).distinct()
        rows = await self._s.execute(
            select(
                ClientRow.org_id,
                ClientRow.id,
                ClientRow.client_key,
                ClientRow.name,
                ClientRow.secret_expires_at,
            )
            .where(
                ClientRow.is_valid.is_(True),
                ClientRow.secret_expires_at > now,
                ClientRow.secret_expires_at <= until,
                ClientRow.org_id.in_(with_webhooks),
            )
            .order_by(ClientRow.id)
        )
        return [
            ExpiringSecret(org_id, client_id, key, name, expires)
            for org_id, client_id, key, name, expires in rows
            if expires is not None
        ]

"""The webhook delivery worker each node runs: claim due messages from the outbox under a lease,
sign them (Standard Webhooks), send them, and record each attempt's outcome.

At least once: a message is claimed for one attempt at a time (the attempt is counted when it
is claimed, so two nodes never send the same attempt); the claim is a lease longer than the
sender's whole timeout, so a node that dies mid-attempt leaves the message to be claimed again
by any node once the lease ends. Failures are retried with exponential back-off
(``keyloft.domain.webhooks.retry_at``) for 24 hours, then the message is marked failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook as Signer

from keyloft.domain.webhooks import DELIVERED, FAILED, PENDING, retry_at
from keyloft.services.ports import (
    ClaimedDelivery,
    Clock,
    RemoteFetchFailed,
    Store,
    WebhookSender,
)
from keyloft.services.webhook_secrets import SecretUnreadable, WebhookSecrets

log = logging.getLogger("keyloft.webhooks")

LEASE_SECONDS = 60.0
"""How long a claimed attempt is held: well beyond the sender's 10 s timeout."""
BATCH = 20

Transaction = Callable[..., AbstractAsyncContextManager[Store]]


def encode(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_headers(secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of a message sent at ``at``."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Signer(secret).sign(message_id, at, body),
    }


class DeliveryWorker:
    """``run_once`` is one pass: what is due now, each attempt sent and recorded."""

    def __init__(
        self,
        transaction: Transaction,
        clock: Callable[[], Clock],
        sender: WebhookSender,
        secrets: Callable[[], WebhookSecrets],
        *,
        node: str | None = None,
        lease: float = LEASE_SECONDS,
        batch: int = BATCH,
    ) -> None:
        self._transaction = transaction
        self._clock = clock
        self._sender = sender
        self._secrets = secrets
        self.node = node or uuid.uuid4().hex[:12]
        self.lease = lease
        self.batch = batch

    async def run_once(self) -> int:
        """Claim what is due, send it, record the outcomes; how many attempts were made."""
        claim = f"{self.node}:{uuid.uuid4().hex[:16]}"
        now = self._clock().now()
        async with self._transaction(write=True) as store:
            claimed = await store.webhooks.claim(
                claim=claim, now=now, lease=self.lease, limit=self.batch
            )
        outcomes = await asyncio.gather(
            *(self._attempt(item) for item in claimed), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, Exception):  # not recorded: retried when the lease ends
                log.warning("recording a webhook attempt failed: %s", type(outcome).__name__)
            elif isinstance(outcome, BaseException):
                raise outcome
        return len(claimed)

    async def _attempt(self, item: ClaimedDelivery) -> None:
        delivery = item.delivery
        status_code: int | None = None
        error: str | None = None
        try:
            secret = self._secrets().open(item.sealed_secret)
            body = encode(delivery.payload)
            headers = signed_headers(secret, delivery.message_id, self._clock().now(), body)
            status_code = await self._sender.post(item.url, body, headers)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except RemoteFetchFailed as failed:
            error = str(failed)
        except SecretUnreadable as unreadable:
            error = str(unreadable)
        now = self._clock().now()
        if error is None:
            status, following = DELIVERED, None
        else:
            following = retry_at(item.retry_from, delivery.attempts, now)
            status = PENDING if following is not None else FAILED
            log.info(
                "webhook delivery %s attempt %d failed: %s",
                delivery.id,
                delivery.attempts,
                error,
            )
        async with self._transaction(write=True) as store:
            await store.webhooks.finish(
                delivery.id,
                claim=item.claim,
                now=now,
                status=status,
                next_attempt_at=following,
                status_code=status_code,
                error=error,
            )

"""An org's webhooks as the management API uses them: create (the signing secret shown once),
list, read, delete, the delivery log of one, and redelivering a message. Each use case is one
unit of work; an org sees and touches only its own webhooks (others' are "not found")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from keyloft.domain.actors import Actor
from keyloft.domain.audit import AuditEvent, RequestContext, created, diff
from keyloft.domain.errors import AccessDenied, Conflict, NotFound, ValidationFailed
from keyloft.domain.orgs import Org
from keyloft.domain.webhooks import (
    MAX_WEBHOOKS_PER_ORG,
    Delivery,
    Webhook,
    check_description,
    check_events,
    check_url,
    new_signing_secret,
)
from keyloft.services.cursor import DELIVERY_CURSOR, decode_cursor, encode_cursor
from keyloft.services.ports import Clock, Store
from keyloft.services.webhook_secrets import WebhookSecrets

MAX_PAGE = 100
_CURSOR_KIND = DELIVERY_CURSOR

Transaction = Callable[..., AbstractAsyncContextManager[Store]]


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    url: str
    events: Sequence[str]
    description: str = ""


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    webhook: Webhook
    org: Org
    secret: str | None = None
    """Only in the answer that creates it: never available again."""


@dataclass(frozen=True, slots=True)
class WebhookList:
    webhooks: list[Webhook]
    org: Org


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: list[Delivery]
    next_cursor: str | None
    org: Org


def _fields(webhook: Webhook) -> dict[str, object]:
    return {"url": webhook.url, "events": list(webhook.events), "description": webhook.description}


class WebhookAdministration:
    def __init__(
        self,
        transaction: Transaction,
        clock: Callable[[], Clock],
        secrets: Callable[[], WebhookSecrets],
        *,
        allow_http: bool = False,
    ) -> None:
        self._transaction = transaction
        self._clock = clock
        self._secrets = secrets
        self.allow_http = allow_http

    async def _org(self, store: Store, actor: Actor) -> Org:
        org = await store.orgs.get(actor.org_id)
        if org is None:
            raise AccessDenied()
        return org

    async def _webhook(self, store: Store, actor: Actor, webhook_id: int) -> Webhook:
        found = await store.webhooks.get(actor.org_id, webhook_id)
        if found is None:
            raise NotFound(f"No webhook with id {webhook_id}.")
        return found

    async def _audit(
        self,
        store: Store,
        actor: Actor,
        action: str,
        webhook: Webhook,
        changes: dict[str, list[object]],
        context: RequestContext | None,
    ) -> None:
        await store.audit.add(
            AuditEvent(
                org_id=actor.org_id,
                at=self._clock().now(),
                actor=actor.principal,
                action=action,
                target_type="webhook",
                target=str(webhook.id),
                changes=changes,
                context=context or RequestContext(),
            )
        )

    async def create(
        self, actor: Actor, request: WebhookRequest, context: RequestContext | None = None
    ) -> WebhookAnswer:
        url = check_url(request.url, allow_http=self.allow_http)
        events = check_events(request.events)
        description = check_description(request.description)
        secret = new_signing_secret()
        async with self._transaction(write=True) as store:
            org = await self._org(store, actor)
            await store.orgs.lock(org.id)
            if len(await store.webhooks.list(org.id)) >= MAX_WEBHOOKS_PER_ORG:
                # The org's state, not the request: 409, as the org's client limit.
                raise Conflict(
                    f"An org may have at most {MAX_WEBHOOKS_PER_ORG} webhooks.", field="url"
                )
            webhook = await store.webhooks.add(
                org_id=org.id,
                url=url,
                events=events,
                description=description,
                sealed_secret=self._secrets().seal(secret),
                now=self._clock().now(),
            )
            await self._audit(
                store, actor, "webhook.create", webhook, created(_fields(webhook)), context
            )
        return WebhookAnswer(webhook, org, secret)

    async def list(self, actor: Actor) -> WebhookList:
        async with self._transaction(write=False) as store:
            org = await self._org(store, actor)
            return WebhookList(await store.webhooks.list(org.id), org)

    async def get(self, actor: Actor, webhook_id: int) -> WebhookAnswer:
        async with self._transaction(write=False) as store:
            org = await self._org(store, actor)
            return WebhookAnswer(await self._webhook(store, actor, webhook_id), org)

    async def delete(
        self, actor: Actor, webhook_id: int, context: RequestContext | None = None
    ) -> None:
        """The webhook and its delivery log; messages not yet delivered are dropped."""
        async with self._transaction(write=True) as store:
            webhook = await self._webhook(store, actor, webhook_id)
            await store.webhooks.remove(actor.org_id, webhook.id)
            await self._audit(
                store, actor, "webhook.delete", webhook, diff(_fields(webhook), None), context
            )

    async def deliveries(
        self, actor: Actor, webhook_id: int, *, cursor: str | None = None, limit: int = 50
    ) -> DeliveryPage:
        """The webhook's messages, newest first; ``next_cursor`` continues."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
        before = decode_cursor(_CURSOR_KIND, cursor) if cursor is not None else None
        async with self._transaction(write=False) as store:
            org = await self._org(store, actor)
            webhook = await self._webhook(store, actor, webhook_id)
            found = await store.webhooks.deliveries(webhook.id, before_id=before, limit=limit + 1)
        more = len(found) > limit
        found = found[:limit]
        following = encode_cursor(_CURSOR_KIND, found[-1].id) if more and found else None
        return DeliveryPage(found, following, org)

    async def redeliver(self, actor: Actor, webhook_id: int, delivery_id: int) -> Delivery:
        """Send the message again (same ``webhook-id``), with a fresh 24 hours of retries."""
        async with self._transaction(write=True) as store:
            webhook = await self._webhook(store, actor, webhook_id)
            again = await store.webhooks.redeliver(webhook.id, delivery_id, self._clock().now())
            if again is None:
                raise NotFound(f"No delivery with id {delivery_id}.")
            return again

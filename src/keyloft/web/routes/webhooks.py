"""The webhooks of the caller's org: create (the signing secret shown once), list, read,
delete, the delivery log of one, and redelivering a message (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import WithJsonSchema
from starlette.responses import Response

from keyloft.domain.timefmt import format_v3
from keyloft.domain.webhooks import Delivery, Webhook
from keyloft.services.cursor import DELIVERY_CURSOR, cursor_max_length, cursor_pattern
from keyloft.services.webhooks import MAX_PAGE, WebhookRequest
from keyloft.web import envelope
from keyloft.web.caller import ActorDep, request_context
from keyloft.web.json_route import JsonRoute
from keyloft.web.openapi import answers
from keyloft.web.openapi.rules import matching
from keyloft.web.webhook_schemas import (
    DeliveryEnvelope,
    DeliveryId,
    DeliveryPageEnvelope,
    WebhookCreate,
    WebhookEnvelope,
    WebhookId,
    WebhookListEnvelope,
)
from keyloft.web.wiring import RuntimeDep

router = APIRouter(prefix="/v3/integrations", tags=["webhooks"], route_class=JsonRoute)

UNKNOWN = {404: "No webhook with this id in the caller's org."}
Cursor = Annotated[
    str | None,
    WithJsonSchema(
        {
            "type": "string",
            **matching(cursor_pattern(DELIVERY_CURSOR)),
            "maxLength": cursor_max_length(DELIVERY_CURSOR),
        }
    ),
    Query(
        max_length=cursor_max_length(DELIVERY_CURSOR),
        description="The nextCursor of the previous page.",
    ),
]


def _at(moment: datetime | None, timezone: str) -> str | None:
    return format_v3(moment, timezone) if moment is not None else None


def _webhook(webhook: Webhook, timezone: str, secret: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": webhook.id,
        "url": webhook.url,
        "events": list(webhook.events),
        "description": webhook.description,
        "createdOn": format_v3(webhook.created_at, timezone),
    }
    if secret is not None:
        view["secret"] = secret
    return view


def _delivery(delivery: Delivery, timezone: str) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "messageId": delivery.message_id,
        "eventType": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "createdOn": format_v3(delivery.created_at, timezone),
        "nextAttemptOn": _at(delivery.next_attempt_at, timezone),
        "lastAttemptOn": _at(delivery.last_attempt_at, timezone),
        "lastStatusCode": delivery.last_status,
        "lastError": delivery.last_error,
        "deliveredOn": _at(delivery.delivered_at, timezone),
        "payload": dict(delivery.payload),
    }


@router.post(
    "/webhooks",
    responses=answers.envelope(
        WebhookEnvelope,
        *answers.MANAGEMENT,
        *answers.WITH_BODY,
        *answers.WRITE,
        headers=answers.NO_STORE,
        links=answers.links(
            {"webhookId": "$response.body#/data/id"},
            "getWebhook",
            "listDeliveries",
            "deleteWebhook",
        ),
        why={
            409: "The org already has its most webhooks (20; `field` is url), or a concurrent "
            "change."
        },
    ),
)
async def create_webhook(
    request: Request, body: WebhookCreate, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    """Subscribe a URL to events. The answer is the only place the signing secret appears."""
    made = await runtime.webhooks.create(
        actor,
        WebhookRequest(body.url, body.events, body.description),
        request_context(request),
    )
    return envelope.ok(
        _webhook(made.webhook, made.org.timezone, made.secret),
        headers={"Cache-Control": "no-store"},
    )


@router.get("/webhooks", responses=answers.envelope(WebhookListEnvelope, *answers.MANAGEMENT))
async def list_webhooks(actor: ActorDep, runtime: RuntimeDep) -> Response:
    """The org's webhooks, without their secrets."""
    found = await runtime.webhooks.list(actor)
    return envelope.ok([_webhook(hook, found.org.timezone) for hook in found.webhooks])


@router.get(
    "/webhooks/{webhookId}",
    responses=answers.envelope(WebhookEnvelope, *answers.MANAGEMENT, *answers.KEYED, why=UNKNOWN),
)
async def get_webhook(webhookId: WebhookId, actor: ActorDep, runtime: RuntimeDep) -> Response:
    found = await runtime.webhooks.get(actor, webhookId)
    return envelope.ok(_webhook(found.webhook, found.org.timezone))


@router.delete(
    "/webhooks/{webhookId}",
    responses=answers.envelope(
        WebhookEnvelope, *answers.MANAGEMENT, *answers.KEYED, *answers.WRITE, why=UNKNOWN
    ),
)
async def delete_webhook(
    request: Request, webhookId: WebhookId, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    """Remove the webhook, its delivery log and the messages not yet delivered."""
    found = await runtime.webhooks.get(actor, webhookId)
    await runtime.webhooks.delete(actor, webhookId, request_context(request))
    return envelope.ok(_webhook(found.webhook, found.org.timezone))


@router.get(
    "/webhooks/{webhookId}/deliveries",
    responses=answers.envelope(
        DeliveryPageEnvelope, *answers.MANAGEMENT, *answers.KEYED, why=UNKNOWN
    ),
)
async def list_deliveries(
    webhookId: WebhookId,
    actor: ActorDep,
    runtime: RuntimeDep,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Deliveries per page.")] = 50,
) -> Response:
    """The webhook's messages, newest first, each with its attempts so far; pass
    ``nextCursor`` back as ``cursor`` for more."""
    page = await runtime.webhooks.deliveries(actor, webhookId, cursor=cursor, limit=limit)
    timezone = page.org.timezone
    return envelope.ok(
        {
            "deliveries": [_delivery(item, timezone) for item in page.deliveries],
            "nextCursor": page.next_cursor,
        }
    )


@router.post(
    "/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
    responses=answers.envelope(
        DeliveryEnvelope,
        *answers.MANAGEMENT,
        *answers.KEYED,
        *answers.WRITE,
        why={404: "No webhook with this id in the caller's org, or no such delivery of it."},
    ),
)
async def redeliver(
    webhookId: WebhookId, deliveryId: DeliveryId, actor: ActorDep, runtime: RuntimeDep
) -> Response:
    """Send the message again (same ``webhook-id``), now, with a fresh 24 hours of retries."""
    again = await runtime.webhooks.redeliver(actor, webhookId, deliveryId)
    found = await runtime.webhooks.get(actor, webhookId)
    return envelope.ok(_delivery(again, found.org.timezone))

"""Bodies and answers of the webhooks API (``/v3/integrations/webhooks``), for validation and
the OpenAPI description."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from keyloft.domain.webhooks import EVENT_TYPES, MAX_DESCRIPTION, MAX_URL, URL_PATTERN
from keyloft.web.openapi.rules import matching

MAX_ID = 2**63 - 1
"""The largest id the store holds (a signed 64-bit integer)."""

WebhookId = Annotated[
    int, Path(ge=1, le=MAX_ID, description="The webhook's id (from its create answer or the list).")
]
DeliveryId = Annotated[
    int, Path(ge=1, le=MAX_ID, description="The delivery's id (from the webhook's delivery log).")
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    url: str = Field(
        max_length=MAX_URL,
        json_schema_extra=matching(URL_PATTERN),
        description="Where messages are posted: https, a DNS name (no address literal, not "
        "localhost), an optional port, a path and a query; no credentials, no fragment. The "
        "name's addresses are checked when a message is sent: a private or local one fails "
        "that attempt. (A deployment with KEYLOFT_WEBHOOKS_ALLOW_HTTP=true also allows http, "
        "address literals and private addresses, beyond this pattern.)",
    )
    events: list[str] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        json_schema_extra={"items": {"type": "string", "enum": list(EVENT_TYPES)}},
        description="Event types: " + ", ".join(EVENT_TYPES) + " (a repeated one counts once).",
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION)


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str
    createdOn: str
    secret: str | None = Field(
        default=None, description="The signing secret (whsec_…): only in the create answer."
    )


class WebhookEnvelope(BaseModel):
    data: WebhookOut
    errors: None = None


class WebhookListEnvelope(BaseModel):
    data: list[WebhookOut]
    errors: None = None


class DeliveryOut(BaseModel):
    id: int
    messageId: str
    eventType: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    createdOn: str
    nextAttemptOn: str | None
    lastAttemptOn: str | None
    lastStatusCode: int | None
    lastError: str | None
    deliveredOn: str | None
    payload: dict[str, object]


class DeliveryPageOut(BaseModel):
    deliveries: list[DeliveryOut]
    nextCursor: str | None


class DeliveryPageEnvelope(BaseModel):
    data: DeliveryPageOut
    errors: None = None


class DeliveryEnvelope(BaseModel):
    data: DeliveryOut
    errors: None = None

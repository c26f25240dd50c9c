"""Bodies and answers of the webhooks API (``/v3/integrations/webhooks``), for validation and
the OpenAPI description."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from keyloft.domain.webhooks import EVENT_TYPES, MAX_DESCRIPTION, MAX_URL


class WebhookCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    url: str = Field(
        max_length=MAX_URL,
        description="Where messages are posted: https and a public address "
        "(KEYLOFT_WEBHOOKS_ALLOW_HTTP=true also allows http and private addresses).",
    )
    events: list[str] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description="Event types: " + ", ".join(EVENT_TYPES),
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
    data: WebhookOut | None
    errors: list[dict[str, object]] | None


class WebhookListEnvelope(BaseModel):
    data: list[WebhookOut] | None
    errors: list[dict[str, object]] | None


class DeliveryOut(BaseModel):
    id: int
    messageId: str
    eventType: str
    status: str
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
    data: DeliveryPageOut | None
    errors: list[dict[str, object]] | None


class DeliveryEnvelope(BaseModel):
    data: DeliveryOut | None
    errors: list[dict[str, object]] | None

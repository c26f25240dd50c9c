"""The usage endpoints' answers as the OpenAPI description shows them (v3 envelope)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class UsageBucketOut(BaseModel):
    start: str = Field(
        description="The hour or day's start, in the org's time zone",
        examples=["2020-04-15T14:00:00.000+0530"],
    )
    tokensIssued: int
    authFailures: int
    authFailuresByReason: dict[str, int] = Field(
        description="Failed token requests naming an existing client, by reason"
    )
    decisionsAllowed: int
    decisionsDenied: int


class UsageTotalsOut(BaseModel):
    tokensIssued: int
    authFailures: int
    decisionsAllowed: int
    decisionsDenied: int


class ClientUsageOut(BaseModel):
    clientKey: str
    interval: Literal["hour", "day"]
    timezone: str
    from_: str = Field(alias="from")
    to: str
    totals: UsageTotalsOut
    buckets: list[UsageBucketOut]


class TopClientOut(UsageTotalsOut):
    clientKey: str
    name: str
    isValid: bool


class OrgUsageOut(BaseModel):
    interval: Literal["hour", "day"]
    timezone: str
    from_: str = Field(alias="from")
    to: str
    totals: UsageTotalsOut
    buckets: list[UsageBucketOut]
    topClients: list[TopClientOut] = Field(description="At most 10, by tokens issued")


class ClientUsageEnvelope(BaseModel):
    data: ClientUsageOut
    errors: None = None


class OrgUsageEnvelope(BaseModel):
    data: OrgUsageOut
    errors: None = None

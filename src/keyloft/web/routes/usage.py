"""Usage counts of the caller's org, in the v3 envelope: one client's by hour or day, and
the org's totals with its top clients (``docs/usage.md``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from keyloft.domain.timefmt import format_v3
from keyloft.domain.usage import ALLOWED, AUTH_FAILURES, DENIED, TOKENS, Bucket, UsageRange
from keyloft.services.usage_reports import UsageQuery
from keyloft.web import envelope
from keyloft.web.caller import ActorDep
from keyloft.web.routes.integrations import ERRORS
from keyloft.web.usage_schemas import ClientUsageEnvelope, OrgUsageEnvelope
from keyloft.web.wiring import ServicesDep

router = APIRouter(prefix="/v3/integrations", tags=["usage"])

Since = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=64,
        description="ISO 8601 date or date-time (default: 7 days, or 90 by day, before `to`)",
    ),
]
Until = Annotated[
    str | None, Query(alias="to", max_length=64, description="ISO 8601 (default: now)")
]
Interval = Annotated[str | None, Query(max_length=8, description="hour (default) or day")]


def bucket_view(bucket: Bucket, timezone: str) -> dict[str, Any]:
    return {
        "start": format_v3(bucket.start, timezone),
        "tokensIssued": bucket.tokens,
        "authFailures": bucket.failures,
        "authFailuresByReason": dict(sorted(bucket.auth_failures.items())),
        "decisionsAllowed": bucket.allowed,
        "decisionsDenied": bucket.denied,
    }


def totals_view(buckets: Sequence[Bucket]) -> dict[str, int]:
    return {
        "tokensIssued": sum(bucket.tokens for bucket in buckets),
        "authFailures": sum(bucket.failures for bucket in buckets),
        "decisionsAllowed": sum(bucket.allowed for bucket in buckets),
        "decisionsDenied": sum(bucket.denied for bucket in buckets),
    }


def _range_view(wanted: UsageRange) -> dict[str, Any]:
    return {
        "interval": wanted.interval,
        "timezone": wanted.timezone,
        "from": format_v3(wanted.start, wanted.timezone),
        "to": format_v3(wanted.end, wanted.timezone),
    }


@router.get("/clients/{clientKey}/usage", responses={200: {"model": ClientUsageEnvelope}, **ERRORS})
async def client_usage(
    clientKey: str,
    actor: ActorDep,
    services: ServicesDep,
    since: Since = None,
    until: Until = None,
    interval: Interval = None,
) -> Response:
    """One client's tokens issued, failed authentications by reason and decisions allowed
    and denied, per hour (UTC hours) or day (the org's days), every bucket of the range
    listed. At most 31 days by hour and 400 by day."""
    found = await services.usage.client(actor, clientKey, UsageQuery(since, until, interval))
    timezone = found.org.timezone
    return envelope.ok(
        {
            "clientKey": found.client.client_key,
            **_range_view(found.range),
            "totals": totals_view(found.buckets),
            "buckets": [bucket_view(bucket, timezone) for bucket in found.buckets],
        }
    )


@router.get("/usage", responses={200: {"model": OrgUsageEnvelope}, **ERRORS})
async def org_usage(
    actor: ActorDep,
    services: ServicesDep,
    since: Since = None,
    until: Until = None,
    interval: Interval = None,
) -> Response:
    """The org's totals per hour or day over all its clients, and its top 10 clients by
    tokens issued in the range."""
    found = await services.usage.org(actor, UsageQuery(since, until, interval))
    timezone = found.org.timezone
    return envelope.ok(
        {
            **_range_view(found.range),
            "totals": totals_view(found.totals),
            "buckets": [bucket_view(bucket, timezone) for bucket in found.totals],
            "topClients": [
                {
                    "clientKey": top.client.client_key,
                    "name": top.client.name,
                    "isValid": top.client.is_valid,
                    "tokensIssued": top.totals.get(TOKENS, 0),
                    "authFailures": top.totals.get(AUTH_FAILURES, 0),
                    "decisionsAllowed": top.totals.get(ALLOWED, 0),
                    "decisionsDenied": top.totals.get(DENIED, 0),
                }
                for top in found.top
            ],
        }
    )

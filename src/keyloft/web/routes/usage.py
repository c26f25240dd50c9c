"""Usage counts of the caller's org, in the v3 envelope: one client's by hour or day, and
the org's totals with its top clients (``docs/usage.md``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import WithJsonSchema
from starlette.responses import Response

from keyloft.domain.timefmt import format_v3
from keyloft.domain.usage import (
    ALLOWED,
    AUTH_FAILURES,
    DEFAULT_RANGE,
    DENIED,
    HOUR,
    INTERVALS,
    MAX_RANGE,
    MOMENT_PATTERN,
    TOKENS,
    Bucket,
    UsageRange,
)
from keyloft.services.usage_reports import UsageQuery
from keyloft.web import envelope
from keyloft.web.caller import ActorDep
from keyloft.web.openapi import answers, query_rules
from keyloft.web.openapi.rules import matching
from keyloft.web.usage_schemas import ClientUsageEnvelope, OrgUsageEnvelope
from keyloft.web.wiring import ServicesDep

router = APIRouter(prefix="/v3/integrations", tags=["usage"])

_MOMENT_SCHEMA = WithJsonSchema({"type": "string", **matching(MOMENT_PATTERN), "maxLength": 64})
_DAYS = {interval: span.days for interval, span in MAX_RANGE.items()}
_DEFAULT_DAYS = {interval: span.days for interval, span in DEFAULT_RANGE.items()}
_RULES = (
    f"`from` must be before `to`, and at most {_DAYS['hour']} days apart by hour or "
    f"{_DAYS['day']} by day (else 400 naming `from`)."
)
_ACCEPTED = (
    "An ISO 8601 date (2020-04-15) or date-time (2020-04-15T14:14:06.104+0530, offset optional: "
    "without one, and for a date, the org's time zone) of a year from 1971 to 9998. "
)
Since = Annotated[
    str | None,
    _MOMENT_SCHEMA,
    Query(
        alias="from",
        max_length=64,
        description=_ACCEPTED
        + f"Default: {_DEFAULT_DAYS['hour']} days before `to` by hour, "
        + f"{_DEFAULT_DAYS['day']} by day. "
        + _RULES,
    ),
]
Until = Annotated[
    str | None,
    _MOMENT_SCHEMA,
    Query(alias="to", max_length=64, description=_ACCEPTED + "Default: now. " + _RULES),
]
Interval = Annotated[
    Literal["hour", "day"] | None,
    WithJsonSchema({"type": "string", "enum": list(INTERVALS), "default": HOUR}),
    Query(description="The buckets: hour (UTC hours, the default) or day (the org's days)."),
]
QUERY_RULES = query_rules.rules(
    query_rules.before("from", "to"),
    query_rules.max_span("from", "to", days=_DAYS, by="interval", default=HOUR),
)
"""``from`` before ``to`` and at most 31 days apart by hour, 400 by day: checked after the
defaults fill an absent ``to`` (now) or ``from`` (7 days before ``to`` by hour, 90 by day)."""


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


@router.get(
    "/clients/{clientKey}/usage",
    responses=answers.envelope(
        ClientUsageEnvelope,
        *answers.MANAGEMENT,
        *answers.KEYED,
        why={404: "No client with this key in the caller's org."},
    ),
    openapi_extra=QUERY_RULES,
)
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


@router.get(
    "/usage",
    responses=answers.envelope(OrgUsageEnvelope, *answers.MANAGEMENT),
    openapi_extra=QUERY_RULES,
)
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

"""The console's usage overview of the org: the last 30 days by day (a chart and its
table), the top clients, and the valid clients that need a look — never used, unused for 30
days, secrets expiring, mint limits hit. Read in one call on the usage services."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from keyloft.domain.usage import ALLOWED, AUTH_FAILURES, DAY, DENIED, TOKENS
from keyloft.services.usage_reports import OVERVIEW_DAYS
from keyloft.web.console import rendering
from keyloft.web.console.dependencies import ConsoleDep, SignedInDep
from keyloft.web.console.routing import console_router
from keyloft.web.console.usage_charts import chart
from keyloft.web.wiring import ServicesDep

router = console_router()
METRICS = (TOKENS, AUTH_FAILURES, ALLOWED, DENIED)


@router.get("/usage")
async def usage_page(
    request: Request, con: ConsoleDep, services: ServicesDep, who: SignedInDep
) -> Response:
    found = await services.usage.overview(who.actor)
    usage = found.usage
    caption = f"All clients, last {OVERVIEW_DAYS} days, by day"
    return rendering.page(
        request,
        con,
        who,
        usage.org,
        "usage.html",
        title="Usage",
        wide=True,
        days=OVERVIEW_DAYS,
        chart=chart("usage-org", caption, usage.totals, DAY, usage.org.timezone),
        top=[(top.client, [top.totals.get(m, 0) for m in METRICS]) for top in usage.top],
        overview=found,
    )

"""Usage in the console: each client's page draws its last 7 days by hour and last 90 by day
as SVG with the numbers in a table, and the org's overview shows its totals, top clients and
the clients that need a look — all from the counts the usage flush wrote, within the org."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from keyloft.runtime import Runtime
from tests.support.api import OrgFixture, create_client, mint
from tests.support.console import CLIENTS, sign_in
from tests.unit.fakes import FakeClock

USAGE = "/console/usage"


def rows_of(html: str, table_caption: str) -> list[list[str]]:
    """The body rows (header cell and data cells) of the table with this caption."""
    found = re.search(
        rf"<caption>{re.escape(table_caption)}</caption>.*?<tbody>(.*?)</tbody>", html, re.S
    )
    assert found is not None, f"no table {table_caption!r}"
    return [
        [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]
        for cells in (
            re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
            for row in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)
        )
    ]


@pytest.fixture
async def signed_in(http: httpx.AsyncClient, org: OrgFixture) -> str:
    return await sign_in(http, org.admin)


async def test_a_clients_page_charts_its_usage_with_a_table(
    http: httpx.AsyncClient,
    org: OrgFixture,
    runtime: Runtime,
    clock: FakeClock,
    signed_in: str,
) -> None:
    client = await create_client(http, org)  # the clock stands still: one hour
    for _ in range(3):
        await mint(http, client["clientKey"], client["clientSecret"])
    await runtime.flush_usage()
    page = await http.get(f"{CLIENTS}/{client['clientKey']}")
    assert page.status_code == 200
    html = page.text
    for chart_id in ("usage-hour", "usage-day"):
        figure = re.search(
            rf'<figure class="usage-chart" id="{chart_id}">(.*?)</figure>', html, re.S
        )
        assert figure is not None
        svg = re.search(r'<svg role="img" aria-label="([^"]+)"', figure.group(1))
        assert svg is not None
        assert "3 tokens issued" in svg.group(1)
        assert figure.group(1).count('class="bar-tokens"') == 1
    hours = rows_of(html, "Last 7 days, by hour")
    assert len(hours) in (7 * 24, 7 * 24 + 1)
    assert [row[1:] for row in hours if row[1] != "0"] == [["3", "0", "0", "0"]]
    days = rows_of(html, "Last 90 days, by day")
    assert len(days) in (90, 91)
    assert sum(int(row[1]) for row in days) == 3
    assert 'href="http' not in html.split("<main", 1)[-1]  # nothing from elsewhere


async def test_the_overview_shows_totals_top_clients_and_clients_to_look_at(
    http: httpx.AsyncClient,
    org: OrgFixture,
    other_org: OrgFixture,
    runtime: Runtime,
    clock: FakeClock,
) -> None:
    busy = await create_client(http, org, name="busy")
    idle = await create_client(http, org, name="idle")
    await create_client(http, org, name="never")
    theirs = await create_client(http, other_org, name="theirs")
    await mint(http, idle["clientKey"], idle["clientSecret"])
    await runtime.flush_usage()
    clock.advance(timedelta(days=31).total_seconds())
    for _ in range(2):
        await mint(http, busy["clientKey"], busy["clientSecret"])
    await mint(http, theirs["clientKey"], theirs["clientSecret"])
    await runtime.flush_usage()

    await sign_in(http, org.admin)
    page = await http.get(USAGE)
    assert page.status_code == 200
    html = page.text
    assert 'href="/console/usage"' in html  # in the navigation
    svg = re.search(r'<svg role="img" aria-label="([^"]+)"', html)
    assert svg is not None
    assert "2 tokens issued" in svg.group(1)
    totals = rows_of(html, "All clients, last 30 days, by day")
    assert sum(int(row[1]) for row in totals) == 2
    top = rows_of(html, "The 1 clients that were issued the most tokens in the last 30 days")
    assert top == [["busy", "2", "0", "0", "0"]]
    assert "theirs" not in html
    never = re.search(r'<ul id="never-used"[^>]*>(.*?)</ul>', html, re.S)
    unused = re.search(r'<ul id="unused"[^>]*>(.*?)</ul>', html, re.S)
    assert never is not None
    assert "never" in never.group(1)
    assert "idle" not in never.group(1)
    assert unused is not None
    assert "idle" in unused.group(1)
    assert "busy" not in unused.group(1)
    assert "No secret expires that soon." in html
    assert "No client went beyond its mint limit." in html


async def test_the_overview_needs_a_session(http: httpx.AsyncClient) -> None:
    answer = await http.get(USAGE)
    assert answer.status_code in (303, 401)

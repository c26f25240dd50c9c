"""Usage in the console, in Chromium: a client's page charts its usage (the last 7 days by
hour, the last 90 by day) with the numbers in a table behind a disclosure, and the org's usage
page shows its totals, top clients and the clients that need a look. The node flushes its
counts every second here. So that the pictures show more than this test's minute, earlier
hours and days are added to the store first, as flushes of other days would have written
them; the tokens, failures and decisions of this test go through the running node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from keyloft.domain.usage import ALLOWED, AUTH_FAILURES, DENIED, TOKENS, hour_of
from keyloft.services.ports import UsageKey
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from tests.integration.nodes import Deployment, deployment
from tests.support.browser import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("usage-e2e")
    with deployment(
        f"sqlite:///{workdir}/keyloft.db",
        None,
        workdir,
        nodes=1,
        settings={"KEYLOFT_USAGE_FLUSH_SECONDS": "1"},
    ) as running:
        yield running


def earlier_usage(org_id: int, clients: list[int]) -> dict[UsageKey, int]:
    """A plausible past: the first client busy on working hours, the others less so."""
    now = hour_of(datetime.now(UTC))
    counts: dict[UsageKey, int] = {}
    for back in range(1, 24 * 60):
        hour = now - timedelta(hours=back)
        if hour.weekday() >= 5 or not 3 <= hour.hour <= 14:
            continue
        for rank, client_id in enumerate(clients):
            tokens = (40 + (back * 7) % 23) // (rank + 1)
            counts[(org_id, client_id, hour, TOKENS, "")] = tokens
            counts[(org_id, client_id, hour, ALLOWED, "")] = tokens * 12
            counts[(org_id, client_id, hour, DENIED, "")] = (back % 5) // (rank + 1)
            if back % 17 == 0:
                counts[(org_id, client_id, hour, AUTH_FAILURES, "invalid_client")] = 2
    return counts


async def add_usage(url: str, counts: dict[UsageKey, int]) -> None:
    database = Database(create_engine(url))
    try:
        async with database.unit_of_work(write=True) as store:
            await store.usage.add(counts)
    finally:
        await database.dispose()


def sign_in(page: Any, server: Deployment) -> None:
    username, password = server.admin
    page.goto("/console/sign-in")
    page.get_by_label("Username or Till code").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_client_page_and_the_orgs_usage_page_chart_the_counts(
    page: Any, server: Deployment, screenshots: Any
) -> None:
    url = server.nodes[0].url
    made = []
    with httpx.Client(base_url=url, auth=server.admin, timeout=10) as http:
        for name, entity in (("orders-sync", 2), ("loyalty-feed", 2), ("stock-report", 2)):
            answer = http.post(
                "/v3/integrations/clients",
                json={
                    "name": name,
                    "description": "usage pictures",
                    "expirationTokenTime": 600,
                    "defaultTillId": server.till_id,
                    "scopes": [{"entityId": entity, "permission": "READ", "resources": []}],
                },
            )
            assert answer.status_code == 200, answer.text
            made.append(answer.json()["data"])
        past = earlier_usage(server.org_id, [client["id"] for client in made[:2]])
        # Playwright's loop runs in this thread: the store is written from another.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, add_usage(server.env["KEYLOFT_DATABASE_URL"], past)).result()
        first = made[0]
        for _ in range(3):
            token = http.post(
                "/v3/oauth/token/generate",
                json={"key": first["clientKey"], "secret": first["clientSecret"]},
            ).json()["data"]["accessToken"]
            allowed = http.post(
                "/v3/oauth/check", json={"token": token, "method": "GET", "path": "/v3/x"}
            )
            assert allowed.json()["data"]["allowed"] is True
        second = made[1]
        minted = http.post(
            "/v3/oauth/token/generate",
            json={"key": second["clientKey"], "secret": second["clientSecret"]},
        )
        assert minted.status_code == 200
        wrong = http.post(
            "/v3/oauth/token/generate", json={"key": first["clientKey"], "secret": "wrong"}
        )
        assert wrong.status_code == 401
        # The node writes its counts within a second: wait for them, within reason.
        usage_url = f"/v3/integrations/clients/{first['clientKey']}/usage"
        deadline = time.monotonic() + 15
        hours: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            hours = http.get(usage_url, params={"interval": "hour"}).json()["data"]["buckets"]
            if hours[-1]["authFailures"] == 1 and hours[-1]["tokensIssued"] == 3:
                break
            time.sleep(0.2)
        assert hours[-1]["tokensIssued"] == 3
        assert hours[-1]["decisionsAllowed"] == 3
        assert hours[-1]["authFailuresByReason"] == {"invalid_client": 1}

    sign_in(page, server)
    page.goto(f"/console/clients/{first['clientKey']}")
    card = page.locator("section", has=page.get_by_role("heading", name="Usage"))
    hourly = card.locator("#usage-hour")
    assert hourly.get_by_role("img").count() == 1
    label = hourly.locator("svg").get_attribute("aria-label")
    assert "tokens issued" in label
    hourly.get_by_text("The numbers").click()
    table = hourly.get_by_role("table", name="Last 7 days, by hour")
    assert table.is_visible()
    last = table.locator("tbody tr").last
    assert last.locator("td").first.inner_text() == "3"
    hourly.get_by_text("The numbers").click()
    card.evaluate("element => element.scrollIntoView({block: 'start'})")
    screenshot(page, screenshots, "client-usage")

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Usage").click()
    page.get_by_role("heading", name="Usage", exact=True).wait_for()
    top = page.locator("#top-clients tbody tr")
    assert top.count() == 2
    assert "orders-sync" in top.first.inner_text()
    never = page.locator("#never-used").inner_text()
    assert "stock-report" in never
    assert "loyalty-feed" not in never
    screenshot(page, screenshots, "usage", full_page=True)

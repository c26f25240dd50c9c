"""Webhooks through the API, on one node: registration (the secret once, never listed), org
sealing, validation naming the field, the outbox written in the change's own transaction (a
refused change writes nothing), Standard Webhooks signatures the receiver verifies, retries
with back-off after a 500 and after a hanging receiver, redelivery, and the SSRF guard of the
sender. The worker is driven one pass at a time (``run_once``) on a clock the test moves."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks import Webhook

from keyloft.config import Settings
from keyloft.domain.webhooks import (
    EVENT_TYPES,
    GIVE_UP_AFTER,
    MAX_WEBHOOKS_PER_ORG,
    URL_PATTERN,
    retry_at,
)
from keyloft.outbound import FetchPolicy
from keyloft.outbound.webhook_post import WebhookPoster, webhook_policy
from keyloft.runtime import Runtime, build_runtime
from keyloft.services.cursor import DELIVERY_CURSOR, cursor_pattern
from keyloft.services.keys import ServerKeys
from keyloft.services.ports import RemoteFetchFailed
from keyloft.services.webhook_delivery import DeliveryWorker
from keyloft.services.webhook_secrets import (
    SecretUnreadable,
    WebhookSecrets,
    rewrap_webhook_secrets,
)
from keyloft.storage.store import Database
from tests.support.api import SERVER_SECRET, OrgFixture, client_body, create_client
from tests.support.http_server import LocalServer
from tests.support.waiting import eventually
from tests.support.webhooks import WEBHOOKS, Receiver, create_webhook, deliveries
from tests.unit.fakes import FakeClock

CLIENTS = "/v3/integrations/clients"
TOKEN = "/v3/oauth/token/generate"
BOTH_STORES = pytest.mark.parametrize(
    "database_url",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
    indirect=True,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No ticking worker: each test runs the passes it means to.
    return settings.model_copy(update={"webhooks_allow_http": True, "webhooks_poll_seconds": 300})


async def test_create_shows_the_secret_once(http: httpx.AsyncClient, org: OrgFixture) -> None:
    made = await create_webhook(http, org, "https://hooks.example.com/in", ["client.created"])
    assert made["secret"].startswith("whsec_")
    assert made["events"] == ["client.created"]
    listed = (await http.get(WEBHOOKS, headers=org.auth)).json()["data"]
    assert [hook["id"] for hook in listed] == [made["id"]]
    assert "secret" not in listed[0]
    one = (await http.get(f"{WEBHOOKS}/{made['id']}", headers=org.auth)).json()["data"]
    assert "secret" not in one
    assert one["url"] == "https://hooks.example.com/in"
    audit = (await http.get("/v3/integrations/audit", headers=org.auth)).json()["data"]
    assert audit["events"][0]["action"] == "webhook.create"
    assert made["secret"] not in json.dumps(audit)


@BOTH_STORES
async def test_an_org_sees_only_its_own_webhooks(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    made = await create_webhook(http, org, "https://hooks.example.com/in")
    assert (await http.get(WEBHOOKS, headers=other_org.auth)).json()["data"] == []
    for method, path in (
        ("GET", f"{WEBHOOKS}/{made['id']}"),
        ("DELETE", f"{WEBHOOKS}/{made['id']}"),
        ("GET", f"{WEBHOOKS}/{made['id']}/deliveries"),
    ):
        answer = await http.request(method, path, headers=other_org.auth)
        assert answer.status_code == 404, (method, path, answer.text)
    # Events of one org never reach another org's webhook.
    await create_client(http, other_org)
    assert await deliveries(http, org, made["id"]) == []


async def test_delete_removes_it(http: httpx.AsyncClient, org: OrgFixture) -> None:
    made = await create_webhook(http, org, "https://hooks.example.com/in")
    assert (await http.delete(f"{WEBHOOKS}/{made['id']}", headers=org.auth)).status_code == 200
    assert (await http.get(f"{WEBHOOKS}/{made['id']}", headers=org.auth)).status_code == 404
    assert (await http.get(WEBHOOKS, headers=org.auth)).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.com/", "events": ["client.created"]}, "url"),
        ({"url": "https://user:pw@hooks.example.com/", "events": ["client.created"]}, "url"),
        ({"url": "https://hooks.example.com/", "events": ["client.exploded"]}, "events"),
        ({"url": "https://hooks.example.com/", "events": []}, "events"),
        (
            {
                "url": "https://hooks.example.com/",
                "events": ["client.created"],
                "description": "x" * 501,
            },
            "description",
        ),
    ],
)
async def test_bad_bodies_name_the_field(
    http: httpx.AsyncClient, org: OrgFixture, body: dict[str, object], field: str
) -> None:
    answer = await http.post(WEBHOOKS, json=body, headers=org.auth)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["errors"][0].get("field", ""), answer.text
    assert (await http.get(WEBHOOKS, headers=org.auth)).json()["data"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://10.1.2.3/in",
        "https://[::1]/in",
        "https://169.254.169.254/latest",
        "https://localhost/in",
        "https://93.184.216.34/in",  # even a public address literal: the schema admits names
        "https://hooks.example.com/in#part",
        "https://single-label/in",
    ],
)
async def test_plain_http_and_private_addresses_are_refused_without_the_flag(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, url: str
) -> None:
    runtime.webhooks.allow_http = False
    assert not re.search(URL_PATTERN, url)
    answer = await http.post(
        WEBHOOKS, json={"url": url, "events": ["client.created"]}, headers=org.auth
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["field"] == "url"
    assert (await http.get(WEBHOOKS, headers=org.auth)).json()["data"] == []


async def test_a_url_the_schema_admits_is_accepted_without_the_flag(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime
) -> None:
    runtime.webhooks.allow_http = False
    url = "https://Hooks-1.example.COM:8443/in/a;b=c/@x?d=e&f=%2F/?"
    assert re.search(URL_PATTERN, url)
    made = await create_webhook(http, org, url, ["client.created", "client.created"])
    assert made["url"] == url
    assert made["events"] == ["client.created"]  # a repeated event type counts once


async def test_the_org_limit_is_a_409_and_stores_nothing_more(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    for number in range(MAX_WEBHOOKS_PER_ORG):
        await create_webhook(http, org, f"https://hooks.example.com/{number}")
    answer = await http.post(
        WEBHOOKS,
        json={"url": "https://hooks.example.com/more", "events": ["client.created"]},
        headers=org.auth,
    )
    assert answer.status_code == 409, answer.text
    assert answer.json() == {
        "data": None,
        "errors": [
            {
                "code": 4090,
                "message": f"An org may have at most {MAX_WEBHOOKS_PER_ORG} webhooks.",
                "field": "url",
            }
        ],
    }
    listed = (await http.get(WEBHOOKS, headers=org.auth)).json()["data"]
    assert len(listed) == MAX_WEBHOOKS_PER_ORG
    assert "https://hooks.example.com/more" not in {hook["url"] for hook in listed}


HUGE_IDS = ["-15118823910488426216947712", "18446744073709551617", str(2**63), "0", "-1"]


@pytest.mark.parametrize("huge", HUGE_IDS)
async def test_an_id_out_of_the_stores_range_is_a_400_naming_it_never_a_500(
    http: httpx.AsyncClient, org: OrgFixture, huge: str
) -> None:
    made = await create_webhook(http, org, "https://hooks.example.com/in")
    calls = [
        ("GET", f"{WEBHOOKS}/{huge}", "webhookId"),
        ("DELETE", f"{WEBHOOKS}/{huge}", "webhookId"),
        ("GET", f"{WEBHOOKS}/{huge}/deliveries", "webhookId"),
        ("POST", f"{WEBHOOKS}/{huge}/deliveries/1/redeliver", "webhookId"),
        ("POST", f"{WEBHOOKS}/{made['id']}/deliveries/{huge}/redeliver", "deliveryId"),
    ]
    for method, path, field in calls:
        answer = await http.request(method, path, headers=org.auth)
        assert answer.status_code == 400, (method, path, answer.text)
        assert answer.json()["errors"][0]["field"] == field
    assert [hook["id"] for hook in (await http.get(WEBHOOKS, headers=org.auth)).json()["data"]] == [
        made["id"]
    ]


async def test_an_unknown_id_in_range_is_a_404(http: httpx.AsyncClient, org: OrgFixture) -> None:
    made = await create_webhook(http, org, "https://hooks.example.com/in")
    largest = 2**63 - 1
    for method, path in [
        ("GET", f"{WEBHOOKS}/{largest}"),
        ("DELETE", f"{WEBHOOKS}/{largest}"),
        ("GET", f"{WEBHOOKS}/{largest}/deliveries"),
        ("POST", f"{WEBHOOKS}/{largest}/deliveries/1/redeliver"),
        ("POST", f"{WEBHOOKS}/{made['id']}/deliveries/{largest}/redeliver"),
    ]:
        answer = await http.request(method, path, headers=org.auth)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await http.get(f"{WEBHOOKS}/{made['id']}", headers=org.auth)).status_code == 200


async def test_answers_are_the_v3_envelope_with_errors_null(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    answer = await http.post(
        WEBHOOKS,
        json={"url": "https://hooks.example.com/in", "events": ["client.created"]},
        headers=org.auth,
    )
    assert answer.headers["Cache-Control"] == "no-store"
    made = answer.json()
    assert made["errors"] is None
    await create_client(http, org)
    hook = made["data"]["id"]
    for path in (WEBHOOKS, f"{WEBHOOKS}/{hook}", f"{WEBHOOKS}/{hook}/deliveries"):
        assert (await http.get(path, headers=org.auth)).json()["errors"] is None
    [delivery] = await deliveries(http, org, hook)
    again = await http.post(
        f"{WEBHOOKS}/{hook}/deliveries/{delivery['id']}/redeliver", headers=org.auth
    )
    assert again.json()["errors"] is None
    assert set(again.json()["data"]) == set(delivery)
    gone = await http.delete(f"{WEBHOOKS}/{hook}", headers=org.auth)
    assert gone.json()["errors"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"cursor": ""}, "cursor"),
        ({"cursor": "a1.5"}, "cursor"),
        ({"cursor": "w1.0"}, "cursor"),
        ({"cursor": "w1." + "9" * 19}, "cursor"),
    ],
)
async def test_bad_delivery_pages_are_400_naming_the_field(
    http: httpx.AsyncClient, org: OrgFixture, params: dict[str, object], field: str
) -> None:
    made = await create_webhook(http, org, "https://hooks.example.com/in")
    answer = await http.get(f"{WEBHOOKS}/{made['id']}/deliveries", params=params, headers=org.auth)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["field"] == field


async def test_a_well_formed_delivery_cursor_pages_even_if_never_issued(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    made = await create_webhook(http, org, "https://hooks.example.com/in")
    await create_client(http, org)
    await create_client(http, org, name="second")
    path = f"{WEBHOOKS}/{made['id']}/deliveries"
    first = (await http.get(path, params={"limit": 1}, headers=org.auth)).json()["data"]
    assert first["nextCursor"] == f"w1.{first['deliveries'][0]['id']}"
    highest = {"cursor": "w1." + "9" * 18}
    every = (await http.get(path, params=highest, headers=org.auth)).json()["data"]
    assert len(every["deliveries"]) == 2
    assert every["nextCursor"] is None


async def test_the_document_states_what_is_enforced(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    paths = document["paths"]
    body = document["components"]["schemas"]["WebhookCreate"]["properties"]
    assert body["url"]["pattern"] == URL_PATTERN
    assert body["url"]["maxLength"] == 2000
    assert body["events"]["items"]["enum"] == list(EVENT_TYPES)
    assert (body["events"]["minItems"], body["events"]["maxItems"]) == (1, len(EVENT_TYPES))
    assert body["description"]["maxLength"] == 500
    deliveries_get = paths[WEBHOOKS + "/{webhookId}/deliveries"]["get"]
    schemas = {p["name"]: p["schema"] for p in deliveries_get["parameters"]}
    assert (schemas["webhookId"]["minimum"], schemas["webhookId"]["maximum"]) == (1, 2**63 - 1)
    assert schemas["cursor"]["pattern"] == cursor_pattern(DELIVERY_CURSOR)
    assert (schemas["limit"]["minimum"], schemas["limit"]["maximum"]) == (1, 100)
    redeliver = paths[WEBHOOKS + "/{webhookId}/deliveries/{deliveryId}/redeliver"]["post"]
    ids = {p["name"]: p["schema"] for p in redeliver["parameters"]}
    assert ids["deliveryId"]["maximum"] == 2**63 - 1
    statuses = {
        ("post", WEBHOOKS): ["200", "400", "401", "403", "409", "413", "415", "429", "503"],
        ("get", WEBHOOKS): ["200", "400", "401", "403", "429", "503"],
        ("get", WEBHOOKS + "/{webhookId}"): ["200", "400", "401", "403", "404", "429", "503"],
        ("delete", WEBHOOKS + "/{webhookId}"): [
            "200",
            "400",
            "401",
            "403",
            "404",
            "409",
            "429",
            "503",
        ],
    }
    for (method, path), expected in statuses.items():
        assert sorted(paths[path][method]["responses"]) == expected, (method, path)
    assert paths[WEBHOOKS]["post"]["responses"]["200"]["headers"]["Cache-Control"]


@BOTH_STORES
async def test_an_event_is_written_with_the_change_and_a_refused_change_writes_none(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    hook = await create_webhook(http, org, "https://hooks.example.com/in")
    client = await create_client(http, org)
    [created] = await deliveries(http, org, hook["id"])
    assert created["eventType"] == "client.created"
    assert created["status"] == "pending"
    assert created["attempts"] == 0
    data = created["payload"]["data"]
    assert data["clientKey"] == client["clientKey"]
    assert client["clientSecret"] not in json.dumps(created)
    # Refused changes: a name taken (409), a stale If-Match (412), an unknown Till (a 409 as
    # the org's state, formerly 400).
    taken = await http.post(CLIENTS, json={**_body(org), "name": client["name"]}, headers=org.auth)
    assert taken.status_code in (400, 409), taken.text
    stale = await http.delete(
        f"{CLIENTS}/{client['clientKey']}", headers=org.auth | {"If-Match": '"v0"'}
    )
    assert stale.status_code == 412, stale.text
    bad_till = await http.post(
        CLIENTS, json={**_body(org), "name": "n2", "defaultTillId": 999}, headers=org.auth
    )
    assert bad_till.status_code in (400, 409), bad_till.text
    assert len(await deliveries(http, org, hook["id"])) == 1
    # Accepted changes each write theirs.
    rotated = await http.post(f"{CLIENTS}/{client['clientKey']}/secret", json={}, headers=org.auth)
    assert rotated.status_code == 200
    assert (
        await http.delete(f"{CLIENTS}/{client['clientKey']}", headers=org.auth)
    ).status_code == 200
    types = [item["eventType"] for item in await deliveries(http, org, hook["id"])]
    assert types == ["client.deleted", "client.secret.rotated", "client.created"]
    rotated_payload = (await deliveries(http, org, hook["id"]))[1]["payload"]
    assert rotated.json()["data"]["clientSecret"] not in json.dumps(rotated_payload)


def _body(org: OrgFixture) -> dict[str, object]:
    return client_body(org)


async def test_only_subscribed_events_are_queued(http: httpx.AsyncClient, org: OrgFixture) -> None:
    deleted_only = await create_webhook(http, org, "https://a.example.com/", ["client.deleted"])
    client = await create_client(http, org)
    assert await deliveries(http, org, deleted_only["id"]) == []
    await http.delete(f"{CLIENTS}/{client['clientKey']}", headers=org.auth)
    assert [d["eventType"] for d in await deliveries(http, org, deleted_only["id"])] == [
        "client.deleted"
    ]


async def test_delivered_signed_and_verified_by_the_receiver(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime
) -> None:
    with Receiver() as receiver:
        hook = await create_webhook(http, org, receiver.url)
        client = await create_client(http, org)
        assert await runtime.deliver_webhooks() == 1
        [message] = receiver.messages
        verified = Webhook(hook["secret"]).verify(message.body, message.headers)
        assert verified["type"] == "client.created"
        assert verified["data"]["clientKey"] == client["clientKey"]
        assert message.headers["webhook-id"].startswith("msg_")
        # Another secret does not verify it.
        other = await create_webhook(http, org, receiver.url, ["client.deleted"])
        with pytest.raises(Exception, match="signature"):
            Webhook(other["secret"]).verify(message.body, message.headers)
        [logged] = await deliveries(http, org, hook["id"])
        assert logged["status"] == "delivered"
        assert logged["attempts"] == 1
        assert logged["lastStatusCode"] == 204
        assert logged["messageId"] == message.headers["webhook-id"]
        assert await runtime.deliver_webhooks() == 0  # nothing more is due


async def test_a_failing_receiver_is_retried_with_back_off_until_it_recovers(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, clock: FakeClock
) -> None:
    with Receiver(["fail", "fail"]) as receiver:
        hook = await create_webhook(http, org, receiver.url)
        await create_client(http, org)
        assert await runtime.deliver_webhooks() == 1
        [first] = await deliveries(http, org, hook["id"])
        assert first["status"] == "pending"
        assert first["lastStatusCode"] == 500
        assert await runtime.deliver_webhooks() == 0  # not due yet: backing off
        clock.advance(29)
        assert await runtime.deliver_webhooks() == 0
        clock.advance(8)  # 30 s and its jitter (up to 20 %) have passed
        assert await runtime.deliver_webhooks() == 1
        clock.advance(59)  # the second wait is 60 s or more
        assert await runtime.deliver_webhooks() == 0
        clock.advance(14)
        assert await runtime.deliver_webhooks() == 1
        [done] = await deliveries(http, org, hook["id"])
        assert done["status"] == "delivered"
        assert done["attempts"] == 3
        ids = receiver.ids()
        assert len(ids) == 3
        assert len(set(ids)) == 1


async def test_a_hanging_receiver_times_out_and_is_retried(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, clock: FakeClock
) -> None:
    impatient = WebhookPoster(
        FetchPolicy(allow_http=True, connect_timeout=0.5, read_timeout=0.5, total_timeout=1.0)
    )
    worker = DeliveryWorker(
        runtime.transaction, lambda: runtime.clock, impatient, runtime.webhook_secrets
    )
    try:
        with Receiver(["hang"]) as receiver:
            hook = await create_webhook(http, org, receiver.url)
            await create_client(http, org)
            assert await worker.run_once() == 1
            [hung] = await deliveries(http, org, hook["id"])
            assert hung["status"] == "pending"
            assert "timeout" in hung["lastError"]
            clock.advance(40)
            assert await worker.run_once() == 1
            [done] = await deliveries(http, org, hook["id"])
            assert done["status"] == "delivered"
            assert done["attempts"] == 2
    finally:
        await impatient.aclose()


@BOTH_STORES
async def test_retries_stop_after_a_day_and_redeliver_starts_again(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, clock: FakeClock
) -> None:
    with Receiver(["fail"] * 100) as receiver:
        hook = await create_webhook(http, org, receiver.url)
        await create_client(http, org)
        for _ in range(60):
            await runtime.deliver_webhooks()
            clock.advance(2 * 3600 + 1)
            [item] = await deliveries(http, org, hook["id"])
            if item["status"] == "failed":
                break
        assert item["status"] == "failed"
        assert item["nextAttemptOn"] is None
        assert 10 <= item["attempts"] <= 20
        assert await runtime.deliver_webhooks() == 0
        receiver.script.clear()
        again = await http.post(
            f"{WEBHOOKS}/{hook['id']}/deliveries/{item['id']}/redeliver", headers=org.auth
        )
        assert again.status_code == 200, again.text
        assert again.json()["data"]["status"] == "pending"
        assert await runtime.deliver_webhooks() == 1
        [done] = await deliveries(http, org, hook["id"])
        assert done["status"] == "delivered"
        assert done["messageId"] == item["messageId"]
        missing = await http.post(
            f"{WEBHOOKS}/{hook['id']}/deliveries/99999/redeliver", headers=org.auth
        )
        assert missing.status_code == 404


def test_the_back_off_doubles_and_stops_within_a_day() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    waits = []
    now = start
    for attempt in range(1, 40):
        following = retry_at(start, attempt, now)
        if following is None:
            break
        waits.append((following - now).total_seconds())
        now = following
    assert 30 <= waits[0] <= 36
    assert 60 <= waits[1] <= 72
    assert 120 <= waits[2] <= 144
    assert max(waits) <= 2 * 3600 * 1.2
    assert now - start <= GIVE_UP_AFTER < now - start + timedelta(hours=2.5)


async def test_the_sender_refuses_what_the_guard_forbids() -> None:
    redirect = LocalServer(
        {"/hook": lambda exchange: exchange.reply(302, headers=[("Location", "http://10.0.0.1/")])}
    )
    strict = WebhookPoster(webhook_policy(allow_http=False))
    relaxed = WebhookPoster(webhook_policy(allow_http=True))
    try:
        with redirect:
            with pytest.raises(RemoteFetchFailed) as plain:
                await strict.post(redirect.url("/hook"), b"{}", {})
            assert plain.value.reason == "scheme"
            with pytest.raises(RemoteFetchFailed) as private:
                await strict.post(f"https://127.0.0.1:{redirect.port}/hook", b"{}", {})
            assert private.value.reason == "address"
            with pytest.raises(RemoteFetchFailed) as moved:
                await relaxed.post(redirect.url("/hook"), b"{}", {})
            assert moved.value.reason == "redirect"
            assert [seen.path for seen in redirect.requests] == ["/hook"]  # not followed
    finally:
        await strict.aclose()
        await relaxed.aclose()


async def test_the_node_worker_delivers_on_its_own(
    settings: Settings, http: httpx.AsyncClient, org: OrgFixture, database: Database
) -> None:
    """The periodic task a node starts sends without anyone driving it."""
    with Receiver() as receiver:
        await create_webhook(http, org, receiver.url)
        await create_client(http, org)
        ticking = settings.model_copy(update={"webhooks_poll_seconds": 0.05})
        node = await build_runtime(ticking, database=database)
        try:
            await eventually(lambda: len(receiver.messages) == 1)
        finally:
            await node.stop()


async def test_rewrap_reseals_webhook_secrets_under_the_new_server_secret(
    http: httpx.AsyncClient, org: OrgFixture, database: Database
) -> None:
    made = await create_webhook(http, org, "https://hooks.example.com/in")
    old = ServerKeys.derive(SERVER_SECRET)
    new = ServerKeys.derive("another-server-secret-" + "y" * 40)
    async with database.unit_of_work(write=True) as store:
        with pytest.raises(SecretUnreadable):
            await rewrap_webhook_secrets(store, WebhookSecrets(new))
    async with database.unit_of_work(write=True) as store:
        moved = await rewrap_webhook_secrets(store, WebhookSecrets(new, [old]))
    assert moved == [made["id"]]
    async with database.unit_of_work(write=True) as store:
        assert await rewrap_webhook_secrets(store, WebhookSecrets(new)) == []
        [(_, sealed)] = await store.webhooks.sealed_secrets()
    assert WebhookSecrets(new).open(sealed) == made["secret"]
    with pytest.raises(SecretUnreadable):
        WebhookSecrets(old).open(sealed)


@BOTH_STORES
async def test_a_secret_nearing_its_expiry_raises_each_warning_once(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, clock: FakeClock
) -> None:
    hook = await create_webhook(http, org, "https://a.example.com/", ["client.secret.expiring"])
    client = await create_client(http, org, secretLifetimeSeconds=10 * 24 * 3600)
    await create_client(http, org, name="long-lived", secretLifetimeSeconds=30 * 24 * 3600)
    assert await runtime.raise_expiring_secrets() == 1
    assert await runtime.raise_expiring_secrets() == 0  # once, however often the scan runs
    clock.advance(9.5 * 24 * 3600)
    assert await runtime.raise_expiring_secrets() == 1
    assert await runtime.raise_expiring_secrets() == 0
    clock.advance(24 * 3600)  # expired: nothing more to warn of
    assert await runtime.raise_expiring_secrets() == 0
    found = await deliveries(http, org, hook["id"])
    assert [item["payload"]["data"]["daysAhead"] for item in found] == [1, 14]
    assert {item["payload"]["data"]["clientKey"] for item in found} == {client["clientKey"]}
    assert {item["eventType"] for item in found} == {"client.secret.expiring"}


@BOTH_STORES
async def test_going_beyond_the_mint_limit_raises_an_event_once_an_hour(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, clock: FakeClock
) -> None:
    hook = await create_webhook(http, org, "https://a.example.com/", ["client.mint_limit.reached"])
    client = await create_client(http, org, tokenRateLimit={"perMinute": 1})
    body = {"key": client["clientKey"], "secret": client["clientSecret"]}

    async def overrun() -> None:
        assert (await http.post(TOKEN, json=body)).status_code == 200
        assert (await http.post(TOKEN, json=body)).status_code == 429
        await runtime.flush_mint_limit_hits()

    await overrun()
    clock.advance(120)
    await overrun()  # again within the hour: no second event
    clock.advance(3600)
    await overrun()
    found = await deliveries(http, org, hook["id"])
    assert [item["eventType"] for item in found] == ["client.mint_limit.reached"] * 2
    assert found[0]["payload"]["data"]["clientKey"] == client["clientKey"]

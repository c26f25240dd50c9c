"""GET of one client is answered from the node's client cache when it holds the client: no
query at all, the same answer as from the store, every change seen at once, never another
org's client, and a last use that does not move backward when this node writes its uses."""

from __future__ import annotations

import httpx

from keyloft.runtime import Runtime
from tests.support.api import OrgFixture, Statements, create_client, mint

CLIENTS = "/v3/integrations/clients"
MANAGES = [{"entityId": 2, "permission": "READWRITE", "resources": []}]  # "All": the API too


async def detail(http: httpx.AsyncClient, key: str, token: str) -> httpx.Response:
    return await http.get(f"{CLIENTS}/{key}", headers={"X-CAP-API-OAUTH-TOKEN": token})


async def test_a_cached_client_is_read_without_a_query_and_as_the_store_has_it(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, statements: Statements
) -> None:
    client = await create_client(http, org, scopes=MANAGES)
    token = await mint(http, client["clientKey"], client["clientSecret"])
    first = await detail(http, client["clientKey"], token)
    assert first.status_code == 200, first.text

    statements.clear()
    cached = await detail(http, client["clientKey"], token)
    assert statements.seen == []
    assert cached.json() == first.json()
    assert cached.headers["etag"] == first.headers["etag"]

    runtime.cache.clear()  # the same read from the store
    from_store = await detail(http, client["clientKey"], token)
    assert statements.queries() != []
    assert from_store.json() == cached.json()


async def test_a_change_is_seen_by_the_next_read(http: httpx.AsyncClient, org: OrgFixture) -> None:
    client = await create_client(http, org, scopes=MANAGES)
    token = await mint(http, client["clientKey"], client["clientSecret"])
    before = await detail(http, client["clientKey"], token)
    body = {
        "name": "renamed",
        "expirationTokenTime": 120,
        "defaultTillId": org.tills[0].id,
        "scopes": [{"entityId": 2, "permission": "READWRITE", "resources": []}],
    }
    changed = await http.put(
        f"{CLIENTS}/{client['clientKey']}",
        json=body,
        headers={**org.auth, "If-Match": before.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    after = await http.get(f"{CLIENTS}/{client['clientKey']}", headers=org.auth)
    assert after.json()["data"]["name"] == "renamed"
    assert after.json()["data"]["expirationTokenTime"] == 120
    assert after.headers["etag"] == changed.headers["etag"] != before.headers["etag"]

    deleted = await http.delete(f"{CLIENTS}/{client['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200
    gone = await http.get(f"{CLIENTS}/{client['clientKey']}", headers=org.auth)
    assert gone.status_code == 200
    assert gone.json()["data"]["isValid"] is False


async def test_another_orgs_cached_client_is_not_found(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture, runtime: Runtime
) -> None:
    theirs = await create_client(http, other_org)
    await mint(http, theirs["clientKey"], theirs["clientSecret"])  # now in the node's cache
    assert runtime.cache.by_key(theirs["clientKey"]) is not None
    mine = await create_client(http, org, scopes=MANAGES)
    token = await mint(http, mine["clientKey"], mine["clientSecret"])

    for headers in (org.auth, {"X-CAP-API-OAUTH-TOKEN": token}):
        answer = await http.get(f"{CLIENTS}/{theirs['clientKey']}", headers=headers)
        assert answer.status_code == 404
        assert theirs["name"] not in answer.text


async def test_last_use_does_not_move_backward_after_this_node_writes_it(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime
) -> None:
    client = await create_client(http, org, scopes=MANAGES)
    token = await mint(http, client["clientKey"], client["clientSecret"])
    noted = (await detail(http, client["clientKey"], token)).json()["data"]["lastUsedOn"]
    assert noted is not None
    copy = runtime.cache.by_key(client["clientKey"])
    assert copy is not None
    assert copy.client.last_used_on is None  # the copy was read before any use was written
    assert await runtime.flush_usage() == 1
    # Keep that pre-flush copy (on SQLite the flush's commit would drop it; with Redis,
    # a flush announces nothing): the node's own note still shows the use.
    runtime.cache.by_key(client["clientKey"])  # on SQLite: the watch sees the flush now
    runtime.cache.put(copy, read_at=runtime.cache.generation())
    assert runtime.cache.by_key(client["clientKey"]) is copy
    after = (await detail(http, client["clientKey"], token)).json()["data"]["lastUsedOn"]
    assert after == noted


async def listing(http: httpx.AsyncClient, token: str, query: str = "") -> httpx.Response:
    answer = await http.get(f"{CLIENTS}{query}", headers={"X-CAP-API-OAUTH-TOKEN": token})
    assert answer.status_code == 200, answer.text
    return answer


async def test_a_small_orgs_list_is_answered_from_the_cache_byte_for_byte(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, statements: Statements
) -> None:
    clients = [await create_client(http, org, name=f"client-{n}", scopes=MANAGES) for n in range(3)]
    token = await mint(http, clients[0]["clientKey"], clients[0]["clientSecret"])
    await listing(http, token)

    statements.clear()
    cached = await listing(http, token)
    assert statements.seen == []
    assert [c["clientKey"] for c in cached.json()["data"]] == [c["clientKey"] for c in clients]

    runtime.cache.clear()
    from_store = await listing(http, token)
    assert statements.queries() != []
    assert from_store.content == cached.content


async def test_the_list_follows_creation_deletion_and_use(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    first = await create_client(http, org, name="first", scopes=MANAGES)
    token = await mint(http, first["clientKey"], first["clientSecret"])
    assert [c["name"] for c in (await listing(http, token)).json()["data"]] == ["first"]

    second = await create_client(http, org, name="second", scopes=MANAGES)
    assert [c["name"] for c in (await listing(http, token)).json()["data"]] == [
        "first",
        "second",
    ]
    assert (await listing(http, token)).json()["data"][1]["lastUsedOn"] is None
    await mint(http, second["clientKey"], second["clientSecret"])
    assert (await listing(http, token)).json()["data"][1]["lastUsedOn"] is not None

    deleted = await http.delete(f"{CLIENTS}/{second['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200
    assert [c["name"] for c in (await listing(http, token)).json()["data"]] == ["first"]
    every = (await listing(http, token, "?includeInvalid=true")).json()["data"]
    assert [(c["name"], c["isValid"]) for c in every] == [("first", True), ("second", False)]
    # Filters and pages are read from the store, and agree with the cached list.
    assert [c["name"] for c in (await listing(http, token, "?name=SEC")).json()["data"]] == []
    page = (await listing(http, token, "?limit=1&includeInvalid=true")).json()
    assert [c["name"] for c in page["data"]] == ["first"]
    assert page["page"]["nextCursor"] is not None


async def test_another_orgs_list_never_shows_through_the_cache(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    theirs = await create_client(http, other_org, name="theirs")
    mine = await create_client(http, org, name="mine", scopes=MANAGES)
    their_list = await http.get(CLIENTS, headers=other_org.auth)  # their list, now cached
    assert [c["name"] for c in their_list.json()["data"]] == ["theirs"]
    token = await mint(http, mine["clientKey"], mine["clientSecret"])
    ours = await listing(http, token)
    assert [c["name"] for c in ours.json()["data"]] == ["mine"]
    assert theirs["clientKey"] not in ours.text

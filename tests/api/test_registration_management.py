"""Client configuration (RFC 7592) at the registration client URI: read, replace (a new
registration access token each time, the old one refused), delete — and one refusal for every
token or client that does not fit, whatever the reason, so nothing tells whether a client
exists. On SQLite and on PostgreSQL where it touches the store's own behaviour."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from keyloft.storage.store import Database
from tests.support.api import OrgFixture, client_basic, create_client, mint
from tests.support.fake_idp import generate_key, public_jwk
from tests.support.registration import (
    NOT_REGISTERED,
    TOKEN_CHALLENGE,
    bearer,
    grant,
    registered,
    update_body,
    uri_path,
    v3_client,
)
from tests.support.stores import STORES

AUDIT = "/v3/integrations/audit"


def assert_not_registered(answer: httpx.Response) -> None:
    """RFC 7592 §2.1-2.3: 401 with the Bearer challenge, and the same body every time."""
    assert answer.status_code == 401, answer.text
    assert answer.json() == NOT_REGISTERED
    assert answer.headers["www-authenticate"] == TOKEN_CHALLENGE
    assert answer.headers["cache-control"] == "no-store"


async def mints(http: httpx.AsyncClient, key: str, secret: str) -> int:
    answer = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=client_basic(key, secret),
    )
    return answer.status_code


async def events(http: httpx.AsyncClient, org: OrgFixture, key: str) -> list[dict[str, Any]]:
    answer = await http.get(AUDIT, params={"clientKey": key}, headers=org.auth)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]["events"]
    return found


async def stored_row(database: Database, client_key: str) -> dict[str, Any]:
    async with database.unit_of_work(write=False) as store:
        row = (
            await store.session.execute(
                text(
                    "SELECT r.* FROM client_registrations r JOIN clients c "
                    "ON c.id = r.client_id WHERE c.client_key = :key"
                ),
                {"key": client_key},
            )
        ).one()
    return dict(row._mapping)


# --- read -----------------------------------------------------------------------------------


async def test_read_answers_the_current_metadata(http: httpx.AsyncClient, org: OrgFixture) -> None:
    made = await registered(http, org, keyloft_description="first")
    token = made["registration_access_token"]
    read = await http.get(uri_path(made), headers=bearer(token))
    assert read.status_code == 200, read.text
    assert read.headers["cache-control"] == "no-store"
    body = read.json()
    assert "client_secret" not in body  # stored as a hash only: shown once, at registration
    assert body == {name: value for name, value in made.items() if name != "client_secret"}

    # A change through the management API shows in the next read.
    key = made["client_id"]
    changed = await http.put(
        f"/v3/integrations/clients/{key}",
        json={
            "description": "changed in the console",
            "expirationTokenTime": 120,
            "defaultTillId": org.tills[1].id,
            "scopes": [grant(2, "READ")],
        },
        headers=org.auth,
    )
    assert changed.status_code == 200, changed.text
    again = (await http.get(uri_path(made), headers=bearer(token))).json()
    assert again["keyloft_description"] == "changed in the console"
    assert again["keyloft_token_lifetime"] == 120
    assert again["keyloft_default_till_id"] == org.tills[1].id
    assert again["scope"] == "All:read"
    assert again["registration_access_token"] == token


# --- update ---------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", STORES, indirect=True)
async def test_update_replaces_the_metadata_and_the_token(
    http: httpx.AsyncClient, org: OrgFixture, database: Database
) -> None:
    made = await registered(
        http,
        org,
        keyloft_description="to be reset",
        keyloft_token_lifetime=600,
        dpop_bound_access_tokens=True,
    )
    key, old = made["client_id"], made["registration_access_token"]
    before = await stored_row(database, key)
    body = update_body(
        made,
        client_name="renamed",
        scope="All:read",
        keyloft_description=None,  # left out: reset to the default
        dpop_bound_access_tokens=None,
        keyloft_token_lifetime=300,
    )
    answer = await http.put(uri_path(made), json=body, headers=bearer(old))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    updated = answer.json()
    new = updated["registration_access_token"]
    assert new != old
    assert "client_secret" not in updated  # the secret is unchanged, and never shown again
    assert updated["client_name"] == "renamed"
    assert updated["scope"] == "All:read"
    assert updated["keyloft_description"] == ""
    assert updated["dpop_bound_access_tokens"] is False
    assert updated["keyloft_token_lifetime"] == 300
    assert updated["client_id_issued_at"] == made["client_id_issued_at"]

    shown = await v3_client(http, org, key)
    assert (shown["name"], shown["description"], shown["dpopBoundAccessTokens"]) == (
        "renamed",
        "",
        False,
    )
    assert shown["scopes"] == [grant(2, "READ")]
    assert await mints(http, key, made["client_secret"]) == 200

    for method in ("GET", "PUT", "DELETE"):
        refused = await http.request(method, uri_path(made), json=body, headers=bearer(old))
        assert_not_registered(refused)
    assert (await http.get(uri_path(made), headers=bearer(new))).status_code == 200

    after = await stored_row(database, key)
    assert after["token_hash"] != before["token_hash"]
    assert after["rotated_at"] is not None
    (update, _create) = await events(http, org, key)
    assert update["action"] == "client.update"
    # The client acts on itself as its default Till, as its access tokens do.
    assert update["actor"]["code"] == org.tills[0].code
    assert update["changes"]["name"] == ["dcr-client", "renamed"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"client_id": None}, "client_id"),
        ({"client_id": "someone-else"}, "client_id"),
        ({"registration_access_token": "mine"}, "registration_access_token"),
        ({"registration_client_uri": "https://x.test/"}, "registration_client_uri"),
        ({"client_id_issued_at": 1}, "client_id_issued_at"),
        ({"client_secret_expires_at": 0}, "client_secret_expires_at"),
        ({"client_secret": "a-secret-of-my-own-choosing-000000000000"}, "client_secret"),
        ({"grant_types": ["authorization_code"]}, "grant_types"),
        ({"scope": "Orders:read"}, "Orders"),
        ({"client_name": None}, "client_name"),
    ],
)
async def test_a_refused_update_changes_nothing(
    http: httpx.AsyncClient, org: OrgFixture, fields: dict[str, Any], field: str
) -> None:
    made = await registered(http, org)
    token = made["registration_access_token"]
    answer = await http.put(uri_path(made), json=update_body(made, **fields), headers=bearer(token))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_client_metadata"
    assert field in answer.json()["error_description"]
    read = await http.get(uri_path(made), headers=bearer(token))  # the token still works
    assert read.status_code == 200
    assert read.json() == {name: value for name, value in made.items() if name != "client_secret"}


async def test_the_current_secret_may_be_sent_back(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    made = await registered(http, org)
    body = update_body(made, client_secret=made["client_secret"], client_name="same-secret")
    answer = await http.put(
        uri_path(made), json=body, headers=bearer(made["registration_access_token"])
    )
    assert answer.status_code == 200, answer.text
    assert "client_secret" not in answer.json()
    assert await mints(http, made["client_id"], made["client_secret"]) == 200


async def test_a_client_narrows_its_scopes_but_never_widens_them(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    made = await registered(http, org, scope="TargetGroups:read All:read")
    wider = await http.put(
        uri_path(made),
        json=update_body(made, scope="TargetGroups:readwrite All:read"),
        headers=bearer(made["registration_access_token"]),
    )
    assert wider.status_code == 403, wider.text
    assert wider.json()["error"] == "insufficient_scope"
    assert "TargetGroups" in wider.json()["error_description"]
    narrower = await http.put(
        uri_path(made),
        json=update_body(made, scope="All:read"),
        headers=bearer(made["registration_access_token"]),
    )
    assert narrower.status_code == 200, narrower.text
    assert (await v3_client(http, org, made["client_id"]))["scopes"] == [grant(2, "READ")]


async def test_switching_to_a_secret_issues_one_in_the_answer(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    key = public_jwk(generate_key("P-256"), kid="k1")
    made = await registered(
        http, org, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key]}
    )
    assert "client_secret" not in made
    body = update_body(made, token_endpoint_auth_method=None, jwks=None)  # defaults
    answer = await http.put(
        uri_path(made), json=body, headers=bearer(made["registration_access_token"])
    )
    assert answer.status_code == 200, answer.text
    switched = answer.json()
    assert switched["token_endpoint_auth_method"] == "client_secret_basic"
    assert switched["client_secret_expires_at"] == 0
    assert "jwks" not in switched
    assert await mints(http, made["client_id"], switched["client_secret"]) == 200


async def test_of_two_updates_with_one_token_one_wins(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    made = await registered(http, org)
    token = made["registration_access_token"]
    answers = await asyncio.gather(
        *(
            http.put(
                uri_path(made), json=update_body(made, client_name=name), headers=bearer(token)
            )
            for name in ("first", "second")
        )
    )
    assert sorted(answer.status_code for answer in answers) == [200, 401]
    (winner,) = [answer.json() for answer in answers if answer.status_code == 200]
    assert (await v3_client(http, org, made["client_id"]))["name"] == winner["client_name"]


# --- delete ---------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", STORES, indirect=True)
async def test_delete_ends_the_client_and_its_registration(
    http: httpx.AsyncClient, org: OrgFixture, database: Database
) -> None:
    made = await registered(http, org)
    key, token = made["client_id"], made["registration_access_token"]
    deleted = await http.delete(uri_path(made), headers=bearer(token))
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    for method in ("GET", "PUT", "DELETE"):
        refused = await http.request(
            method, uri_path(made), json=update_body(made), headers=bearer(token)
        )
        assert_not_registered(refused)
    assert await mints(http, key, made["client_secret"]) == 401
    assert (await v3_client(http, org, key))["isValid"] is False
    (delete, _create) = await events(http, org, key)
    assert (delete["action"], delete["actor"]["code"]) == ("client.delete", org.tills[0].code)
    async with database.unit_of_work(write=False) as store:
        left = await store.session.scalar(text("SELECT count(*) FROM client_registrations"))
    assert left == 0


async def test_a_client_deleted_otherwise_has_no_registration_left(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    made = await registered(http, org)
    gone = await http.delete(f"/v3/integrations/clients/{made['client_id']}", headers=org.auth)
    assert gone.status_code == 200
    refused = await http.get(uri_path(made), headers=bearer(made["registration_access_token"]))
    assert_not_registered(refused)


async def test_a_client_whose_default_till_is_disabled_cannot_change_itself(
    http: httpx.AsyncClient, org: OrgFixture, database: Database
) -> None:
    made = await registered(http, org)
    async with database.unit_of_work(write=True) as store:
        await store.session.execute(
            text("UPDATE principals SET is_active = :active WHERE id = :id"),
            {"active": False, "id": org.tills[0].id},
        )
    token = bearer(made["registration_access_token"])
    assert (await http.get(uri_path(made), headers=token)).status_code == 200
    refused = await http.delete(uri_path(made), headers=token)
    assert refused.status_code == 403, refused.text
    assert (await v3_client(http, org, made["client_id"]))["isValid"] is True


# --- one refusal for everything that does not fit ------------------------------------------


async def test_nothing_tells_whether_a_client_exists(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    mine = await registered(http, org)
    theirs = await registered(http, other_org, keyloft_default_till_id=other_org.tills[0].id)
    made_otherwise = await create_client(http, org, name="v3-made")
    access_token = await mint(http, made_otherwise["clientKey"], made_otherwise["clientSecret"])
    path = "/oauth2/register/"
    tries = [
        # A client made through the management API has no registration.
        (path + made_otherwise["clientKey"], bearer(mine["registration_access_token"])),
        (path + made_otherwise["clientKey"], bearer(secrets.token_urlsafe(32))),
        # No such client.
        (path + "x" * 25, bearer(mine["registration_access_token"])),
        (path + "nul%00key", bearer(mine["registration_access_token"])),
        # Another org's client, with this org's registration token, admin or nothing.
        (uri_path(theirs), bearer(mine["registration_access_token"])),
        (uri_path(theirs), org.auth),
        (uri_path(theirs), bearer(access_token)),
        (uri_path(mine), bearer(access_token)),
        (uri_path(theirs), {}),
        # The right client with a wrong token, or its token in the wrong scheme.
        (uri_path(mine), bearer(theirs["registration_access_token"])),
        (uri_path(mine), bearer(mine["registration_access_token"][:-1])),
        (uri_path(mine), {"Authorization": "DPoP " + mine["registration_access_token"]}),
        (uri_path(mine), {"X-CAP-API-OAUTH-TOKEN": mine["registration_access_token"]}),
        (uri_path(mine), {"Authorization": "Bearer "}),
    ]
    for where, headers in tries:
        for method in ("GET", "PUT", "DELETE"):
            answer = await http.request(method, where, json=update_body(mine), headers=headers)
            assert_not_registered(answer)
    # Nothing was changed by any of it.
    assert (await v3_client(http, other_org, theirs["client_id"]))["isValid"] is True
    read = await http.get(uri_path(mine), headers=bearer(mine["registration_access_token"]))
    assert read.status_code == 200


@pytest.mark.parametrize("database_url", STORES, indirect=True)
async def test_the_store_holds_a_keyed_hash_never_the_token(
    http: httpx.AsyncClient, org: OrgFixture, database: Database
) -> None:
    made = await registered(http, org, token_endpoint_auth_method="client_secret_post")
    token = made["registration_access_token"]
    row = await stored_row(database, made["client_id"])
    assert row["token_hash"].startswith("kl1$hmac-sha256$")
    assert token not in row["token_hash"]
    assert token not in repr(row)
    assert row["token_endpoint_auth_method"] == "client_secret_post"
    assert row["rotated_at"] is None
    async with database.unit_of_work(write=False) as store:
        dumped = [
            repr(tuple(found))
            for table in ("clients", "client_registrations", "audit_events")
            for found in await store.session.execute(text(f"SELECT * FROM {table}"))
        ]
    assert not any(token in line for line in dumped)
    assert not any(made["client_secret"] in line for line in dumped)

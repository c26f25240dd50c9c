"""The console's secretless clients (private_key_jwt, RFC 7523): created through the form with a
pasted key, a key set URL or a first federated credential, and no secret shown; the client page
showing the method, the keys with their RFC 7638 thumbprints, the key set URL, the federated
credentials and what each last minted; adding and removing keys and rules, setting and removing
the URL, switching the method both ways (a secret shown once, working, then refused); refusals
named beside their field with nothing changed; the forms' CSRF guard and org sealing; each
change one ``client.update`` in the audit trail."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.console.api_reads import api_client, api_clients, audit_events
from tests.console.credentials import (
    PKJWT,
    RULE,
    RULE_AS_API_SHOWS,
    SECRET_METHOD,
    EcKey,
    assertion,
    assertion_form,
    created_key,
    form_curl,
    rfc7638,
    secretless_form,
    shown_secret,
)
from tests.console.page_text import history, table_rows, text_of, textarea
from tests.support.api import ISSUER, OrgFixture, client_basic, create_client
from tests.support.console import CLIENTS, ORIGIN, client_form, error_for, field_value, sign_in

TOKEN = "/oauth2/token"
JWKS_URI = "https://keys.example.com/deploy-bot/jwks.json"


async def mint_with(http: httpx.AsyncClient, key: str, signer: EcKey) -> int:
    answer = await http.post(TOKEN, data=assertion_form(key, signer))
    return answer.status_code


async def mint_with_secret(http: httpx.AsyncClient, key: str, secret: str) -> int:
    answer = await http.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=client_basic(key, secret)
    )
    return answer.status_code


async def create_keyed(
    http: httpx.AsyncClient, org: OrgFixture, token: str, key: EcKey, **form: Any
) -> str:
    """A private_key_jwt client made through the form with ``key``; its client key."""
    answer = await http.post(
        f"{CLIENTS}/new",
        data=secretless_form(org.tills[0].id, token, jwk=key.text(), **form),
        headers=ORIGIN,
    )
    assert answer.status_code == 200, answer.text
    return created_key(answer.text)


async def post_form(
    http: httpx.AsyncClient, key: str, action: str, token: str, **fields: str
) -> httpx.Response:
    """Post one of the client page's forms with the page's current version."""
    page = await http.get(f"{CLIENTS}/{key}")
    data = {"csrf_token": token, "etag": field_value(page.text, "etag")} | fields
    return await http.post(f"{CLIENTS}/{key}/{action}", data=data, headers=ORIGIN)


def done(answer: httpx.Response, key: str, notice: str) -> None:
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{CLIENTS}/{key}?done={notice}"


# --- creating ------------------------------------------------------------------------------


async def test_a_private_key_jwt_client_is_created_with_a_pasted_key_and_no_secret(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    signer = EcKey.make(kid="deploy-2026")
    answer = await http.post(
        f"{CLIENTS}/new",
        data=secretless_form(org.tills[0].id, token, jwk=json.dumps(signer.public_jwk, indent=2)),
        headers=ORIGIN,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    assert shown_secret(answer.text) is None
    assert "Copy the secret now" not in answer.text
    assert "This client has no secret" in text_of(answer.text, "no-secret")
    key = created_key(answer.text)
    (listed,) = await api_clients(http, org)
    assert listed["clientKey"] == key
    assert "clientSecret" not in listed
    detail = await api_client(http, org, key)
    assert detail["tokenEndpointAuthMethod"] == PKJWT
    assert detail["jwks"] == {"keys": [signer.public_jwk]}
    assert [k["thumbprint"] for k in detail["keys"]] == [rfc7638(signer.public_jwk)]
    # The command on the answer mints a token once the shell has an assertion.
    url, fields = form_curl(answer.text, "curl")
    assert url == f"{ISSUER}{TOKEN}"
    filled = [f.replace("$CLIENT_ASSERTION", assertion(key, signer)) for f in fields]
    minted = await http.post(
        TOKEN,
        content="&".join(filled).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert minted.status_code == 200, minted.text


async def test_the_client_page_shows_the_method_keys_and_what_minted_last(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    signer = EcKey.make(kid="deploy-2026")
    key = await create_keyed(http, org, token, signer)
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert text_of(page, "method").startswith(PKJWT)
    assert text_of(page, "last-credential") == "none yet"
    [row] = table_rows(page, "keys")
    thumbprint = rfc7638(signer.public_jwk)
    assert row[:5] == [
        "deploy-2026",
        "EC P-256",
        "ES256 (no alg: by its type)",
        thumbprint,
        "never",
    ]
    # No secret to rotate: neither its controls nor a secret command.
    assert "Rotate secret" not in page
    assert 'action="/console/clients/' + key + '/secret"' not in page
    assert "CLIENT_SECRET" not in page
    assert f"<code>{key}</code>" in page  # iss and sub of the assertion
    assert f"<code>{ISSUER}</code>" in page  # its audience
    assert "at most 5 minutes ahead" in page
    assert 'id="curl-federated"' not in page  # no federated credential yet

    assert await mint_with(http, key, signer) == 200
    page = (await http.get(f"{CLIENTS}/{key}")).text
    [row] = table_rows(page, "keys")
    assert row[4] != "never"
    assert text_of(page, "last-credential").startswith(f"key {thumbprint} (kid deploy-2026), ")


async def test_a_client_starts_with_a_key_set_url_or_a_federated_credential(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    by_url = await http.post(
        f"{CLIENTS}/new",
        data=secretless_form(org.tills[0].id, token, name="by-url", jwks_uri=JWKS_URI),
        headers=ORIGIN,
    )
    assert by_url.status_code == 200, by_url.text
    detail = await api_client(http, org, created_key(by_url.text))
    assert (detail["tokenEndpointAuthMethod"], detail["jwksUri"], detail["jwks"]) == (
        PKJWT,
        JWKS_URI,
        None,
    )
    by_rule = await http.post(
        f"{CLIENTS}/new",
        data=secretless_form(org.tills[0].id, token, name="by-rule", rule=RULE),
        headers=ORIGIN,
    )
    assert by_rule.status_code == 200, by_rule.text
    key = created_key(by_rule.text)
    detail = await api_client(http, org, key)
    assert [
        {k: v for k, v in rule.items() if k != "lastUsedOn"}
        for rule in detail["federatedCredentials"]
    ] == [RULE_AS_API_SHOWS]
    # With a federated credential, the command naming the client by client_id is shown too.
    url, fields = form_curl(by_rule.text, "curl-federated")
    assert url == f"{ISSUER}{TOKEN}"
    assert f"client_id={key}" in fields
    assert "client_assertion=$FEDERATED_TOKEN" in fields


async def test_a_private_key_jwt_client_without_a_credential_is_refused(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    answer = await http.post(
        f"{CLIENTS}/new", data=secretless_form(org.tills[0].id, token), headers=ORIGIN
    )
    assert answer.status_code == 400
    assert "needs jwks, jwksUri or federatedCredentials" in (
        error_for(answer.text, "tokenEndpointAuthMethod") or ""
    )
    assert 'value="private_key_jwt" checked' in answer.text
    assert await api_clients(http, org) == []


async def test_the_secret_method_ignores_the_secretless_fields(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    form = secretless_form(
        org.tills[0].id, token, method=SECRET_METHOD, jwk=EcKey.make().text(), jwks_uri=JWKS_URI
    )
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 200, answer.text
    secret = shown_secret(answer.text)
    assert secret is not None
    detail = await api_client(http, org, created_key(answer.text))
    assert (detail["tokenEndpointAuthMethod"], detail["jwks"], detail["jwksUri"]) == (
        SECRET_METHOD,
        None,
        None,
    )
    assert await mint_with_secret(http, detail["clientKey"], secret) == 200


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"jwk": "{not json"}, "jwk", "The key is not valid JSON."),
        ({"jwk": "[1, 2]"}, "jwk", "Paste a JWK"),
        (
            {"jwk": '{"kty": "EC", "crv": "P-256", "x": "AAAA"}'},
            "jwk",
            'The key needs the member "y"',
        ),
        ({"jwksUri": "http://keys.example.com/jwks.json"}, "jwksUri", "must be an https URL"),
        (RULE | {"ruleIssuer": "not a url"}, "ruleIssuer", "issuer must be an https URL"),
        (RULE | {"ruleSubject": ""}, "ruleSubject", "subject must be 1 to 512 characters"),
        (RULE | {"ruleClaims": "repository"}, "ruleClaims", "Line 1 of the claims is not name"),
        (RULE | {"ruleClaims": "iss=me"}, "ruleClaims", "claims.iss: iss is set by the rule"),
        (RULE | {"ruleMaxAgeSeconds": "ten"}, "ruleMaxAgeSeconds", "whole number of seconds"),
    ],
)
async def test_a_refused_credential_is_named_beside_its_field_and_nothing_is_created(
    http: httpx.AsyncClient, org: OrgFixture, fields: dict[str, str], field: str, message: str
) -> None:
    token = await sign_in(http, org.admin)
    form = secretless_form(org.tills[0].id, token) | fields
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 400, answer.text
    shown = error_for(answer.text, field)
    assert shown is not None, answer.text
    assert message in shown
    assert f'aria-describedby="{field}-hint {field}-error"' in answer.text
    assert await api_clients(http, org) == []
    assert field_value(answer.text, "name") == "deploy-bot"


# --- a private member ----------------------------------------------------------------------


async def test_a_private_key_is_refused_on_create_named_and_not_echoed(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    leaked = EcKey.make()
    form = secretless_form(org.tills[0].id, token, jwk=json.dumps(leaked.private_jwk))
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 400
    shown = error_for(answer.text, "jwk") or ""
    assert 'The key holds the private or symmetric member "d"' in shown
    assert "not kept" in shown
    assert leaked.private_jwk["d"] not in answer.text
    assert await api_clients(http, org) == []


async def test_a_pasted_private_key_is_not_echoed_whatever_the_refusal(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    """The name is refused before the key is read; the private key is dropped all the same."""
    token = await sign_in(http, org.admin)
    leaked = EcKey.make()
    form = secretless_form(org.tills[0].id, token, name=" ", jwk=json.dumps(leaked.private_jwk))
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 400
    assert error_for(answer.text, "name") == "name must not be blank."
    assert "held a private key" in (error_for(answer.text, "jwk") or "")
    assert textarea(answer.text, "jwk") == ""
    assert leaked.private_jwk["d"] not in answer.text
    assert await api_clients(http, org) == []


async def test_a_private_key_is_refused_on_the_client_page_and_nothing_changes(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    key = await create_keyed(http, org, token, EcKey.make(kid="a"))
    before = await api_client(http, org, key)
    leaked = EcKey.make(kid="b")
    answer = await post_form(http, key, "keys", token, jwk=json.dumps(leaked.private_jwk))
    assert answer.status_code == 400
    shown = error_for(answer.text, "jwk") or ""
    assert 'The key holds the private or symmetric member "d"' in shown
    assert "Nothing was changed" in answer.text
    assert leaked.private_jwk["d"] not in answer.text
    assert await api_client(http, org, key) == before
    assert [row[1] for row in history(answer.text)] == ["Created client.create"]


# --- changing the credentials --------------------------------------------------------------


async def test_keys_are_added_and_removed(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    first, second, third = EcKey.make(kid="first"), EcKey.make(kid="second"), EcKey.make()
    key = await create_keyed(http, org, token, first)

    done(await post_form(http, key, "keys", token, jwk=second.text()), key, "key-added")
    page = (await http.get(f"{CLIENTS}/{key}?done=key-added")).text
    assert "The key was added." in page
    assert [row[3] for row in table_rows(page, "keys")] == [first.thumbprint, second.thumbprint]
    assert await mint_with(http, key, second) == 200

    # A JWK Set pastes its keys; a key already registered is named by its place.
    again = json.dumps({"keys": [third.public_jwk, first.public_jwk]})
    refused = await post_form(http, key, "keys", token, jwk=again)
    assert refused.status_code == 400
    assert error_for(refused.text, "jwk") == "Pasted key 2 is registered twice."
    assert textarea(refused.text, "jwk") == again  # kept, to correct it
    done(
        await post_form(http, key, "keys", token, jwk=json.dumps({"keys": [third.public_jwk]})),
        key,
        "key-added",
    )

    removed = await post_form(http, key, "keys/remove", token, thumbprint=first.thumbprint)
    done(removed, key, "key-removed")
    detail = await api_client(http, org, key)
    assert [k["thumbprint"] for k in detail["keys"]] == [second.thumbprint, third.thumbprint]
    assert await mint_with(http, key, first) == 401
    assert await mint_with(http, key, third) == 200

    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert first.thumbprint not in page
    admin = f"{org.admin.code} (admin)"
    rows = history(page)
    assert [row[1:4] for row in rows[:3]] == [["Changed client.update", admin, "jwks"]] * 3
    assert rows[3][1] == "Created client.create"
    events = await audit_events(http, org, key)
    assert [e["action"] for e in events] == ["client.update"] * 3 + ["client.create"]
    assert events[0]["changes"]["jwks"] == [
        [first.thumbprint, second.thumbprint, third.thumbprint],
        [second.thumbprint, third.thumbprint],
    ]


async def test_the_last_credential_cannot_be_removed(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    only = EcKey.make()
    key = await create_keyed(http, org, token, only)
    answer = await post_form(http, key, "keys/remove", token, thumbprint=only.thumbprint)
    assert answer.status_code == 400
    assert "needs jwks, jwksUri or federatedCredentials" in answer.text
    assert [k["thumbprint"] for k in (await api_client(http, org, key))["keys"]] == [
        only.thumbprint
    ]
    unknown = await post_form(http, key, "keys/remove", token, thumbprint="no-such-key")
    assert unknown.status_code == 400
    assert "no key with this thumbprint" in unknown.text
    assert await mint_with(http, key, only) == 200


async def test_the_key_set_url_is_set_and_removed(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    key = await create_keyed(http, org, token, EcKey.make())

    done(
        await post_form(http, key, "jwks-uri", token, jwksUri=f" {JWKS_URI} "),
        key,
        "jwks-uri-saved",
    )
    assert (await api_client(http, org, key))["jwksUri"] == JWKS_URI
    page = (await http.get(f"{CLIENTS}/{key}?done=jwks-uri-saved")).text
    assert "The key set URL was saved." in page
    assert JWKS_URI in text_of(page, "jwks-uri-now")
    assert field_value(page, "jwksUri") == JWKS_URI

    refused = await post_form(
        http, key, "jwks-uri", token, jwksUri="https://user:pw@keys.example.com/"
    )
    assert refused.status_code == 400
    assert "must not hold credentials" in (error_for(refused.text, "jwksUri") or "")
    assert field_value(refused.text, "jwksUri") == "https://user:pw@keys.example.com/"
    assert (await api_client(http, org, key))["jwksUri"] == JWKS_URI

    done(await post_form(http, key, "jwks-uri", token, jwksUri=""), key, "jwks-uri-removed")
    assert (await api_client(http, org, key))["jwksUri"] is None
    events = await audit_events(http, org, key)
    assert [e["changes"]["jwksUri"] for e in events[:2]] == [[JWKS_URI, None], [None, JWKS_URI]]
    assert [row[3] for row in history((await http.get(f"{CLIENTS}/{key}")).text)[:2]] == [
        "jwksUri",
        "jwksUri",
    ]


async def test_federated_credentials_are_added_shown_and_removed(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    key = await create_keyed(http, org, token, EcKey.make())

    done(await post_form(http, key, "federated", token, **RULE), key, "rule-added")
    detail = await api_client(http, org, key)
    assert [
        {k: v for k, v in rule.items() if k != "lastUsedOn"}
        for rule in detail["federatedCredentials"]
    ] == [RULE_AS_API_SHOWS]
    page = (await http.get(f"{CLIENTS}/{key}?done=rule-added")).text
    assert "The federated credential was added." in page
    shown = text_of(page, "rules")
    for words in (
        "github-deploy",
        "Issuer https://token.actions.githubusercontent.com",
        "Subject repo:octo-org/app:ref:refs/heads/main",
        "Audiences api://keyloft, https://keyloft.example, https://third.example",
        'Required claims ref="refs/heads/main", repository="octo-org/app"',
        "Maximum token age 10 minutes",
        "Last used never",
    ):
        assert words in shown, words
    _, fields = form_curl(page, "curl-federated")
    assert f"client_id={key}" in fields

    # A second rule with the audience left empty trusts tokens meant for this server.
    second = RULE | {
        "ruleName": "k8s",
        "ruleAudiences": "",
        "ruleClaims": "",
        "ruleMaxAgeSeconds": "",
    }
    done(await post_form(http, key, "federated", token, **second), key, "rule-added")
    shown = text_of((await http.get(f"{CLIENTS}/{key}")).text, "rules")
    assert f"Audiences this server's issuer, {ISSUER}" in shown
    assert "Maximum token age until the token expires" in shown

    taken = await post_form(http, key, "federated", token, **RULE)
    assert taken.status_code == 400
    assert "name 'github-deploy' is used twice" in (error_for(taken.text, "ruleName") or "")
    assert field_value(taken.text, "ruleSubject") == RULE["ruleSubject"]
    assert len((await api_client(http, org, key))["federatedCredentials"]) == 2

    removed = await post_form(http, key, "federated/remove", token, name="github-deploy")
    done(removed, key, "rule-removed")
    detail = await api_client(http, org, key)
    assert [rule["name"] for rule in detail["federatedCredentials"]] == ["k8s"]
    events = await audit_events(http, org, key)
    assert [sorted(e["changes"]) for e in events[:3]] == [["federatedCredentials"]] * 3


async def test_the_method_switches_both_ways(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    signer = EcKey.make()
    key = await create_keyed(http, org, token, signer)

    switched = await post_form(http, key, "method", token, tokenEndpointAuthMethod=SECRET_METHOD)
    assert switched.status_code == 200, switched.text
    assert switched.headers["Cache-Control"] == "no-store"
    assert "now authenticates with this secret" in switched.text
    secret = shown_secret(switched.text)
    assert secret is not None
    assert await mint_with_secret(http, key, secret) == 200
    assert await mint_with(http, key, signer) == 401
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert secret not in page
    assert "Rotate secret" in page
    assert text_of(page, "method").startswith(SECRET_METHOD)
    # The keys are kept for switching back.
    assert [row[3] for row in table_rows(page, "keys")] == [signer.thumbprint]

    back = await post_form(http, key, "method", token, tokenEndpointAuthMethod=PKJWT)
    done(back, key, "private-key-jwt")
    assert "its secret no longer works" in (await http.get(back.headers["location"])).text
    assert await mint_with_secret(http, key, secret) == 401
    assert await mint_with(http, key, signer) == 200

    events = await audit_events(http, org, key)
    assert [e["action"] for e in events] == ["client.update", "client.update", "client.create"]
    assert events[1]["changes"] == {
        "secret": [None, "issued"],
        "tokenEndpointAuthMethod": [PKJWT, SECRET_METHOD],
    }
    assert events[0]["changes"] == {"tokenEndpointAuthMethod": [SECRET_METHOD, PKJWT]}
    rows = history((await http.get(f"{CLIENTS}/{key}")).text)
    assert [row[3] for row in rows[:2]] == [
        "tokenEndpointAuthMethod",
        "secret, tokenEndpointAuthMethod",
    ]


async def test_a_secret_client_switches_only_once_it_has_a_credential(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    created = await http.post(
        f"{CLIENTS}/new", data=client_form(org.tills[0].id, token), headers=ORIGIN
    )
    key, secret = created_key(created.text), shown_secret(created.text)
    assert secret is not None
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert "removes the secret at once" in page
    assert "add one first" in page

    unnamed = await post_form(http, key, "method", token, tokenEndpointAuthMethod="")
    assert unnamed.status_code == 400
    assert "Choose the method" in (error_for(unnamed.text, "tokenEndpointAuthMethod") or "")
    refused = await post_form(http, key, "method", token, tokenEndpointAuthMethod=PKJWT)
    assert refused.status_code == 400
    assert "needs jwks, jwksUri or federatedCredentials" in (
        error_for(refused.text, "tokenEndpointAuthMethod") or ""
    )
    assert (await api_client(http, org, key))["tokenEndpointAuthMethod"] == SECRET_METHOD
    assert await mint_with_secret(http, key, secret) == 200

    signer = EcKey.make()
    done(await post_form(http, key, "keys", token, jwk=signer.text()), key, "key-added")
    assert await mint_with_secret(http, key, secret) == 200  # a kept key changes nothing yet
    done(
        await post_form(http, key, "method", token, tokenEndpointAuthMethod=PKJWT),
        key,
        "private-key-jwt",
    )
    assert await mint_with_secret(http, key, secret) == 401
    assert await mint_with(http, key, signer) == 200

    same = await post_form(http, key, "method", token, tokenEndpointAuthMethod=PKJWT)
    assert same.status_code == 400
    assert "already uses private_key_jwt" in (error_for(same.text, "tokenEndpointAuthMethod") or "")
    # The refusals recorded nothing: the key, then the switch.
    events = await audit_events(http, org, key)
    assert [sorted(e["changes"]) for e in events] == [
        ["tokenEndpointAuthMethod"],
        ["jwks"],
        sorted(events[-1]["changes"]),
    ]
    assert events[-1]["action"] == "client.create"


async def test_rotating_a_secretless_client_is_refused(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    key = await create_keyed(http, org, token, EcKey.make())
    before = await api_client(http, org, key)
    answer = await post_form(http, key, "secret", token, graceSeconds="0")
    assert answer.status_code == 400
    assert "has no secret to rotate" in answer.text
    assert shown_secret(answer.text) is None
    assert await api_client(http, org, key) == before


async def test_a_stale_form_changes_nothing(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    signer = EcKey.make()
    key = await create_keyed(http, org, token, signer)
    stale = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    done(await post_form(http, key, "jwks-uri", token, jwksUri=JWKS_URI), key, "jwks-uri-saved")
    answer = await http.post(
        f"{CLIENTS}/{key}/keys/remove",
        data={"csrf_token": token, "etag": stale, "thumbprint": signer.thumbprint},
        headers=ORIGIN,
    )
    assert answer.status_code == 412
    assert "changed since you read it" in answer.text
    assert len((await api_client(http, org, key))["keys"]) == 1


# --- guards --------------------------------------------------------------------------------

FORMS = [
    ("keys", {"jwk": EcKey.make().text()}),
    ("keys/remove", {"thumbprint": "x"}),
    ("jwks-uri", {"jwksUri": JWKS_URI}),
    ("federated", RULE),
    ("federated/remove", {"name": "github-deploy"}),
    ("method", {"tokenEndpointAuthMethod": SECRET_METHOD}),
]


@pytest.mark.parametrize(("action", "fields"), FORMS, ids=[action for action, _ in FORMS])
@pytest.mark.parametrize("variant", ["no-token", "wrong-token", "other-origin"])
async def test_the_credential_forms_need_their_token_and_this_site(
    http: httpx.AsyncClient,
    org: OrgFixture,
    action: str,
    fields: dict[str, str],
    variant: str,
) -> None:
    token = await sign_in(http, org.admin)
    key = await create_keyed(http, org, token, EcKey.make(), rule=RULE)
    before = await api_client(http, org, key)
    page = (await http.get(f"{CLIENTS}/{key}")).text
    data = {"etag": field_value(page, "etag")} | fields
    headers = dict(ORIGIN)
    if variant == "wrong-token":
        data["csrf_token"] = "forged"
    elif variant == "other-origin":
        data["csrf_token"] = token
        headers["Origin"] = "https://evil.example"
    answer = await http.post(f"{CLIENTS}/{key}/{action}", data=data, headers=headers)
    assert answer.status_code == 403
    assert "clientSecret" not in answer.text
    assert await api_client(http, org, key) == before


@pytest.mark.parametrize(("action", "fields"), FORMS, ids=[action for action, _ in FORMS])
async def test_another_orgs_client_is_out_of_reach_of_the_credential_forms(
    http: httpx.AsyncClient,
    org: OrgFixture,
    other_org: OrgFixture,
    action: str,
    fields: dict[str, str],
) -> None:
    theirs = await create_client(http, other_org, name="theirs")
    key = theirs["clientKey"]
    before = await api_client(http, other_org, key)
    token = await sign_in(http, org.admin)
    answer = await http.post(
        f"{CLIENTS}/{key}/{action}", data={"csrf_token": token} | fields, headers=ORIGIN
    )
    assert answer.status_code == 404
    assert "theirs" not in answer.text
    assert await api_client(http, other_org, key) == before

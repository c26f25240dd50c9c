"""The console and RFC 9449's ``dpopBoundAccessTokens``: a checkbox on the new-client form (off
unless checked), the flag on the client's page with what it means, a form there that requires
it or stops requiring it (one audited ``client.update`` that keeps everything else, guarded by
the form token and the client's version), and the mint commands of a bound client carrying a
``DPoP`` header with a note on what the proof holds, which, followed, mint a bound token that
works as ``Authorization: DPoP``."""

from __future__ import annotations

import httpx
import jwt
import pytest

from keyloft.config import Settings
from tests.console.api_reads import (
    ALL_READ,
    api_client,
    api_clients,
    audit_events,
    create,
)
from tests.console.credentials import (
    Command,
    EcKey,
    assertion,
    command,
    created_key,
    dpop_proof,
    secretless_form,
    shown_secret,
    token_hash,
)
from tests.console.page_text import history, text_of
from tests.support.api import ISSUER, SERVER_SECRET, OrgFixture, create_client
from tests.support.console import CLIENTS, ORIGIN, client_form, error_for, field_value, sign_in

SCOPES = "/v3/integrations/scopes"
V3_TOKEN_URL = f"{ISSUER}/v3/oauth/token/generate"
OAUTH2_TOKEN_URL = f"{ISSUER}/oauth2/token"
FLAG = "dpopBoundAccessTokens"


async def set_flag(
    http: httpx.AsyncClient, key: str, token: str, value: str, *, etag: str | None = None
) -> httpx.Response:
    """Post the client page's DPoP form, with the page's current version unless ``etag``."""
    if etag is None:
        etag = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    data = {"csrf_token": token, "etag": etag, FLAG: value}
    return await http.post(f"{CLIENTS}/{key}/dpop", data=data, headers=ORIGIN)


async def run(http: httpx.AsyncClient, shown: Command) -> httpx.Response:
    """What the command does: a POST of its ``-d`` fields (joined by ``&``, as curl does)."""
    assert shown.url.startswith(ISSUER)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} | shown.headers
    body = "&".join(shown.data).encode()
    return await http.post(shown.url.removeprefix(ISSUER), content=body, headers=headers)


async def mint_v3(http: httpx.AsyncClient, key: str, secret: str, proof: str | None) -> int:
    headers = {"DPoP": proof} if proof is not None else {}
    answer = await http.post(
        "/v3/oauth/token/generate", json={"key": key, "secret": secret}, headers=headers
    )
    return answer.status_code


# --- creating ------------------------------------------------------------------------------


async def test_the_new_client_form_offers_the_flag_off(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    await sign_in(http, org.admin)
    page = (await http.get(f"{CLIENTS}/new")).text
    box = (
        '<input type="checkbox" id="dpopBoundAccessTokens" name="dpopBoundAccessTokens" '
        'value="true" aria-describedby="dpop-hint">'
    )
    assert f'<label class="choice">{box} Tokens must be DPoP-bound</label>' in page
    assert "a stolen token is useless without it" in text_of(page, "dpop-hint")


async def test_a_client_created_without_the_box_checked_is_not_bound(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    answer = await create(http, org, token)
    key, secret = created_key(answer.text), shown_secret(answer.text)
    assert secret is not None
    assert (await api_client(http, org, key))[FLAG] is False
    assert "DPoP" not in command(answer.text, "curl-secret").headers
    assert 'id="dpop-proof-hint"' not in answer.text
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert text_of(page, "dpop-bound").startswith("no: a token request with a DPoP proof")
    assert "DPoP" not in command(page, "curl").headers
    assert 'id="dpop-use-hint"' not in page
    assert await mint_v3(http, key, secret, None) == 200


async def test_a_client_is_created_bound_and_its_command_mints_a_bound_token(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    answer = await create(http, org, token, **{FLAG: "true"})
    key, secret = created_key(answer.text), shown_secret(answer.text)
    assert secret is not None
    assert (await api_client(http, org, key))[FLAG] is True
    [created] = await audit_events(http, org, key)
    assert created["action"] == "client.create"
    assert created["changes"][FLAG] == [None, True]

    # The command shown with the secret carries a proof from $DPOP_PROOF, and says what it is.
    shown = command(answer.text, "curl-secret")
    assert shown.url == V3_TOKEN_URL
    assert shown.headers["DPoP"] == "$DPOP_PROOF"
    note = text_of(answer.text, "dpop-proof-hint")
    for words in (
        '"typ": "dpop+jwt"',
        "the public key as jwk",
        '"htm": "POST"',
        f'"htu": "{V3_TOKEN_URL}"',
        "iat the current time",
        "a jti never used before",
    ):
        assert words in note, words
    assert "nonce" not in note  # this deployment asks for none
    use = text_of(answer.text, "dpop-use-hint")
    assert "Authorization: DPoP <token>" in use
    assert "carries ath, the base64url SHA-256 of the token" in use

    # Without a proof the client gets no token; with one made as the note says, a bound one.
    assert await mint_v3(http, key, secret, None) == 400
    holder = EcKey.make()
    minted = await run(http, shown.filled(DPOP_PROOF=dpop_proof(holder, "POST", V3_TOKEN_URL)))
    assert minted.status_code == 200, minted.text
    data = minted.json()["data"]
    assert data["tokenType"] == "DPoP"
    claims = jwt.decode(data["accessToken"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": holder.thumbprint}

    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert text_of(page, "dpop-bound").startswith("yes: every token request must carry a DPoP")
    assert command(page, "curl").headers["DPoP"] == "$DPOP_PROOF"
    assert f'"htu": "{V3_TOKEN_URL}"' in text_of(page, "dpop-proof-hint")
    [row] = history(page)
    assert row[1] == "Created client.create"
    assert FLAG in row[3].split(", ")


async def test_a_secretless_bound_clients_commands_carry_a_proof_for_oauth2_token(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    signer = EcKey.make(kid="deploy")
    form = secretless_form(org.tills[0].id, token, jwk=signer.text()) | {FLAG: "true"}
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 200, answer.text
    key = created_key(answer.text)
    assert shown_secret(answer.text) is None
    shown = command(answer.text, "curl")
    assert shown.url == OAUTH2_TOKEN_URL
    assert shown.headers == {"DPoP": "$DPOP_PROOF"}
    assert f'"htu": "{OAUTH2_TOKEN_URL}"' in text_of(answer.text, "dpop-proof-hint")
    assert "Authorization: DPoP <token>" in text_of(answer.text, "dpop-use-hint")

    holder = EcKey.make()
    filled = shown.filled(
        CLIENT_ASSERTION=assertion(key, signer),
        DPOP_PROOF=dpop_proof(holder, "POST", OAUTH2_TOKEN_URL),
    )
    minted = await run(http, filled)
    assert minted.status_code == 200, minted.text
    assert minted.json()["token_type"] == "DPoP"
    # The same without the proof: refused.
    bare = Command(shown.url, {}, shown.data)
    unbound = await run(http, bare.filled(CLIENT_ASSERTION=assertion(key, signer)))
    assert unbound.status_code == 400, unbound.text
    assert unbound.json()["error"] == "invalid_dpop_proof"


async def test_a_flag_value_no_checkbox_sends_is_named_and_nothing_is_created(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    form = client_form(org.tills[0].id, token) | {FLAG: "yes"}
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 400
    assert error_for(answer.text, FLAG) == "dpopBoundAccessTokens must be true or false."
    assert 'aria-describedby="dpop-hint dpopBoundAccessTokens-error"' in answer.text
    assert field_value(answer.text, "name") == "orders-sync"
    assert await api_clients(http, org) == []


@pytest.mark.parametrize("variant", ["no-token", "wrong-token", "other-origin"])
async def test_the_new_client_form_needs_its_token_and_this_site(
    http: httpx.AsyncClient, org: OrgFixture, variant: str
) -> None:
    token = await sign_in(http, org.admin)
    form = client_form(org.tills[0].id, token) | {FLAG: "true"}
    headers = dict(ORIGIN)
    if variant == "no-token":
        del form["csrf_token"]
    elif variant == "wrong-token":
        form["csrf_token"] = "forged"
    else:
        headers["Origin"] = "https://evil.example"
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=headers)
    assert answer.status_code == 403
    assert await api_clients(http, org) == []


# --- changing it on the client's page ------------------------------------------------------


async def test_the_flag_is_set_and_cleared_from_the_client_page(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    answer = await create(http, org, token)
    key, secret = created_key(answer.text), shown_secret(answer.text)
    assert secret is not None
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert field_value(page, FLAG) == "true"  # the form offers to require it
    assert "Require DPoP-bound tokens" in page
    before = await api_client(http, org, key)

    required = await set_flag(http, key, token, "true")
    assert required.status_code == 303, required.text
    assert required.headers["location"] == f"{CLIENTS}/{key}?done=dpop-on"
    page = (await http.get(required.headers["location"])).text
    assert "Its tokens must now be DPoP-bound" in page
    assert text_of(page, "dpop-bound").startswith("yes:")
    assert field_value(page, FLAG) == "false"  # now it offers to stop
    assert "Stop requiring DPoP-bound tokens" in page
    assert command(page, "curl").headers["DPoP"] == "$DPOP_PROOF"
    after = await api_client(http, org, key)
    assert after[FLAG] is True
    kept = {"attribution", FLAG}
    assert {k: v for k, v in after.items() if k not in kept} == {
        k: v for k, v in before.items() if k not in kept
    }
    assert await mint_v3(http, key, secret, None) == 400
    assert await mint_v3(http, key, secret, dpop_proof(EcKey.make(), "POST", V3_TOKEN_URL)) == 200

    cleared = await set_flag(http, key, token, "false")
    assert cleared.status_code == 303, cleared.text
    assert cleared.headers["location"] == f"{CLIENTS}/{key}?done=dpop-off"
    page = (await http.get(cleared.headers["location"])).text
    assert "Its tokens need no longer be DPoP-bound." in page
    assert text_of(page, "dpop-bound").startswith("no:")
    assert "DPoP" not in command(page, "curl").headers
    assert (await api_client(http, org, key))[FLAG] is False
    assert await mint_v3(http, key, secret, None) == 200

    # Each change is one client.update of the flag alone, named in the page's history.
    events = await audit_events(http, org, key)
    assert [e["action"] for e in events] == ["client.update", "client.update", "client.create"]
    assert [e["changes"] for e in events[:2]] == [{FLAG: [True, False]}, {FLAG: [False, True]}]
    admin = f"{org.admin.code} (admin)"
    assert [row[1:] for row in history(page)[:2]] == [["Changed client.update", admin, FLAG]] * 2


async def test_saving_the_edit_form_keeps_the_flag(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    key = created_key((await create(http, org, token, **{FLAG: "true"})).text)
    etag = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    change = client_form(org.tills[0].id, token, name="renamed", access=ALL_READ)
    saved = await http.post(f"{CLIENTS}/{key}", data=change | {"etag": etag}, headers=ORIGIN)
    assert saved.status_code == 303, saved.text
    detail = await api_client(http, org, key)
    assert (detail["name"], detail[FLAG]) == ("renamed", True)
    assert sorted((await audit_events(http, org, key))[0]["changes"]) == ["name"]


async def test_the_token_of_a_bound_client_works_as_the_page_says(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    """Sent as ``Authorization: DPoP`` with a fresh proof carrying ``ath``, the token works;
    as a bearer token it does not."""
    token = await sign_in(http, org.admin)
    answer = await create(http, org, token, **{FLAG: "true"})
    key, secret = created_key(answer.text), shown_secret(answer.text)
    assert secret is not None
    holder = EcKey.make()
    minted = await http.post(
        "/v3/oauth/token/generate",
        json={"key": key, "secret": secret},
        headers={"DPoP": dpop_proof(holder, "POST", V3_TOKEN_URL)},
    )
    assert minted.status_code == 200, minted.text
    access = minted.json()["data"]["accessToken"]
    url = f"{ISSUER}{SCOPES}"
    as_bearer = await http.get(SCOPES, headers={"Authorization": f"Bearer {access}"})
    assert as_bearer.status_code == 401
    proof = dpop_proof(holder, "GET", url, ath=token_hash(access))
    as_dpop = await http.get(SCOPES, headers={"Authorization": f"DPoP {access}", "DPoP": proof})
    assert as_dpop.status_code == 200, as_dpop.text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("false", "The client's tokens already need not be DPoP-bound."),
        ("", "dpopBoundAccessTokens must be true or false."),
        ("on", "dpopBoundAccessTokens must be true or false."),
    ],
)
async def test_a_refused_change_is_named_beside_the_button_and_nothing_is_recorded(
    http: httpx.AsyncClient, org: OrgFixture, value: str, message: str
) -> None:
    token = await sign_in(http, org.admin)
    key = created_key((await create(http, org, token)).text)
    before = await api_client(http, org, key)
    answer = await set_flag(http, key, token, value)
    assert answer.status_code == 400
    assert error_for(answer.text, FLAG) == message
    assert 'aria-describedby="dpop-hint dpopBoundAccessTokens-error" aria-invalid="true"' in (
        answer.text
    )
    assert "Nothing was changed" in answer.text
    assert await api_client(http, org, key) == before
    assert [e["action"] for e in await audit_events(http, org, key)] == ["client.create"]


async def test_requiring_it_twice_is_refused(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    key = created_key((await create(http, org, token, **{FLAG: "true"})).text)
    answer = await set_flag(http, key, token, "true")
    assert answer.status_code == 400
    assert error_for(answer.text, FLAG) == "The client's tokens must already be DPoP-bound."
    assert len(await audit_events(http, org, key)) == 1


async def test_a_stale_form_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    key = created_key((await create(http, org, token)).text)
    stale = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    etag = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    change = client_form(org.tills[0].id, token, name="renamed", access=ALL_READ)
    saved = await http.post(f"{CLIENTS}/{key}", data=change | {"etag": etag}, headers=ORIGIN)
    assert saved.status_code == 303
    answer = await set_flag(http, key, token, "true", etag=stale)
    assert answer.status_code == 412
    assert "changed since you read it" in answer.text
    assert (await api_client(http, org, key))[FLAG] is False
    assert len(await audit_events(http, org, key)) == 2


@pytest.mark.parametrize("variant", ["no-token", "wrong-token", "other-origin"])
async def test_the_client_page_form_needs_its_token_and_this_site(
    http: httpx.AsyncClient, org: OrgFixture, variant: str
) -> None:
    token = await sign_in(http, org.admin)
    key = created_key((await create(http, org, token)).text)
    before = await api_client(http, org, key)
    data = {"etag": field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag"), FLAG: "true"}
    headers = dict(ORIGIN)
    if variant == "wrong-token":
        data["csrf_token"] = "forged"
    elif variant == "other-origin":
        data["csrf_token"] = token
        headers["Origin"] = "https://evil.example"
    answer = await http.post(f"{CLIENTS}/{key}/dpop", data=data, headers=headers)
    assert answer.status_code == 403
    assert await api_client(http, org, key) == before


async def test_another_orgs_client_is_out_of_reach(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    theirs = await create_client(http, other_org, name="theirs")
    key = theirs["clientKey"]
    before = await api_client(http, other_org, key)
    token = await sign_in(http, org.admin)
    for value in ("true", "nonsense"):
        answer = await http.post(
            f"{CLIENTS}/{key}/dpop", data={"csrf_token": token, FLAG: value}, headers=ORIGIN
        )
        assert answer.status_code == 404
        assert "theirs" not in answer.text
    assert await api_client(http, other_org, key) == before


# --- a deployment that asks for nonces ---------------------------------------------------------


class TestWithNoncesRequired:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return Settings(
            database_url=database_url,
            secret_key=SERVER_SECRET,
            issuer=ISSUER,
            dpop_nonce="required",
            _env_file=None,
        )

    async def test_the_note_says_the_proof_carries_the_servers_nonce(
        self, http: httpx.AsyncClient, org: OrgFixture
    ) -> None:
        token = await sign_in(http, org.admin)
        answer = await create(http, org, token, **{FLAG: "true"})
        key, secret = created_key(answer.text), shown_secret(answer.text)
        assert secret is not None
        note = text_of(answer.text, "dpop-proof-hint")
        assert "and nonce, which this server asks for" in note
        assert "answered use_dpop_nonce with a DPoP-Nonce header" in note
        # As it says: the first proof is answered with a nonce, the next one carries it.
        holder = EcKey.make()
        shown = command(answer.text, "curl-secret")
        first = await run(http, shown.filled(DPOP_PROOF=dpop_proof(holder, "POST", V3_TOKEN_URL)))
        assert first.status_code == 400
        nonce = first.headers["DPoP-Nonce"]
        proof = dpop_proof(holder, "POST", V3_TOKEN_URL, nonce=nonce)
        second = await run(http, shown.filled(DPOP_PROOF=proof))
        assert second.status_code == 200, second.text
        assert second.json()["data"]["tokenType"] == "DPoP"
        page = (await http.get(f"{CLIENTS}/{key}")).text
        assert "which this server asks for" in text_of(page, "dpop-proof-hint")

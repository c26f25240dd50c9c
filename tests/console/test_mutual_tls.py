"""The console and mutual TLS (RFC 8705): ``self_signed_tls_client_auth`` offered on the
new-client form and in the method switch, a client of it created from a pasted JWK whose ``x5c``
holds a certificate made here, and its mint command (``--cert``/``--key``, ``client_id``, no
secret) followed to a token; and ``tlsClientCertificateBoundAccessTokens``: a checkbox on the
new-client form, the flag on the client's page with what it means, and a form there that binds
the tokens or stops binding them (one audited ``client.update``, guarded by the form token and
the client's version)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm

from keyloft.config import Settings
from tests.console.api_reads import (
    ALL_READ,
    api_client,
    api_clients,
    audit_events,
    create,
)
from tests.console.credentials import created_key, secretless_form, shown_secret
from tests.console.page_text import history, text_of
from tests.support.api import ISSUER, SERVER_SECRET, OrgFixture, create_client
from tests.support.console import CLIENTS, ORIGIN, client_form, error_for, field_value, sign_in

HEADER = "X-SSL-Client-Cert"
TLS = "self_signed_tls_client_auth"
FLAG = "tlsClientCertificateBoundAccessTokens"
OAUTH2_TOKEN_URL = f"{ISSUER}/oauth2/token"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SERVER_SECRET,
        issuer=ISSUER,
        client_cert_header=HEADER,
        trusted_proxies="127.0.0.1",  # the test transport's peer: the TLS terminator
        _env_file=None,
    )


class Certificate:
    """A self-signed client certificate, its public JWK with the certificate in ``x5c``, its
    ``x5t#S256``, and the header a TLS terminator passes it on in."""

    def __init__(self, name: str = "partner") -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        der = cert.public_bytes(Encoding.DER)
        self.x5t = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
        public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        self.jwk: dict[str, Any] = dict(public) | {"x5c": [base64.b64encode(der).decode()]}
        self.header = {HEADER: quote(cert.public_bytes(Encoding.PEM).decode(), safe="")}


@dataclass(frozen=True)
class TlsCommand:
    """A ``curl`` command a page shows: its URL, options (``--cert``...), headers and fields."""

    url: str
    options: dict[str, str]
    headers: dict[str, str]
    data: list[str]


def tls_command(html: str, element_id: str) -> TlsCommand:
    found = re.search(rf'<pre id="{element_id}"><code>(.*?)</code></pre>', html, re.S)
    assert found is not None, f"no command {element_id!r}"
    # A line's ending backslash escapes its newline, which shlex keeps as a word of its own.
    words = [word for word in shlex.split(unescape(found.group(1))) if word.strip()]
    assert words[:3] == ["curl", "-X", "POST"]
    pairs = list(zip(words[4::2], words[5::2], strict=True))
    return TlsCommand(
        words[3],
        {name: value for name, value in pairs if name.startswith("--")},
        dict(value.split(": ", 1) for name, value in pairs if name == "-H"),
        [value for name, value in pairs if name == "-d"],
    )


async def run(http: httpx.AsyncClient, shown: TlsCommand, cert: Certificate) -> httpx.Response:
    """What the command does through the TLS terminator: a POST of its ``-d`` fields, with
    the certificate it connects with passed on in the terminator's header."""
    assert shown.url.startswith(ISSUER)
    assert set(shown.options) == {"--cert", "--key"}
    headers = {"Content-Type": "application/x-www-form-urlencoded"} | shown.headers | cert.header
    body = "&".join(shown.data).encode()
    return await http.post(shown.url.removeprefix(ISSUER), content=body, headers=headers)


async def set_flag(
    http: httpx.AsyncClient, key: str, token: str, value: str, *, etag: str | None = None
) -> httpx.Response:
    """Post the client page's certificate-binding form, with the page's version unless
    ``etag``."""
    if etag is None:
        etag = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    data = {"csrf_token": token, "etag": etag, FLAG: value}
    return await http.post(f"{CLIENTS}/{key}/certificate-bound", data=data, headers=ORIGIN)


# --- self_signed_tls_client_auth -------------------------------------------------------------


async def test_the_new_client_form_offers_the_method_and_the_flag_off(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    await sign_in(http, org.admin)
    page = (await http.get(f"{CLIENTS}/new")).text
    assert f'<input type="radio" name="tokenEndpointAuthMethod" value="{TLS}">' in page
    assert "it proves itself with its TLS certificate, registered as a key" in text_of(
        page, "method-hint"
    )
    assert "with the certificate itself in x5c" in text_of(page, "jwk-hint")
    box = (
        f'<input type="checkbox" id="{FLAG}" name="{FLAG}" value="true" '
        'aria-describedby="certificate-hint">'
    )
    assert f'<label class="choice">{box} Tokens bound to the client\'s TLS certificate</label>' in (
        page
    )


async def test_a_client_is_created_from_a_pasted_certificate_and_its_command_mints(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    mine = Certificate()
    form = secretless_form(org.tills[0].id, token, method=TLS, jwk=json.dumps(mine.jwk))
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 200, answer.text
    key = created_key(answer.text)
    assert shown_secret(answer.text) is None
    assert "authenticates with self_signed_tls_client_auth" in text_of(answer.text, "no-secret")
    detail = await api_client(http, org, key)
    assert detail["tokenEndpointAuthMethod"] == TLS
    assert [k["x5c"] for k in detail["jwks"]["keys"]] == [mine.jwk["x5c"]]
    assert detail["jwksUri"] is None
    assert detail[FLAG] is False

    # The command connects with the certificate, names the client and sends no secret.
    shown = tls_command(answer.text, "curl")
    assert shown.url == OAUTH2_TOKEN_URL
    assert shown.options == {"--cert": "client-cert.pem", "--key": "client-key.pem"}
    assert shown.data == ["grant_type=client_credentials", f"client_id={key}"]
    assert shown.headers == {}
    assert "CLIENT_ASSERTION" not in answer.text
    assert "sends no secret" in text_of(answer.text, "tls-hint")
    minted = await run(http, shown, mine)
    assert minted.status_code == 200, minted.text
    assert minted.json()["token_type"] == "Bearer"
    assert (await run(http, shown, Certificate())).status_code == 401

    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert text_of(page, "method") == f"{TLS} (its TLS certificate; no secret)"
    assert tls_command(page, "curl") == shown
    assert text_of(page, "certificate-bound").startswith("no: its tokens are bearer tokens")
    assert "Switch to client_secret_basic" in page
    assert "Switch to private_key_jwt" in page


async def test_the_method_without_a_key_is_refused_beside_the_key_field(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    form = secretless_form(org.tills[0].id, token, method=TLS)
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 400
    assert "Paste a public key" in (error_for(answer.text, "jwk") or "")
    assert await api_clients(http, org) == []


async def test_a_secret_client_switches_to_its_certificate(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    mine = Certificate()
    key = created_key((await create(http, org, token)).text)
    etag = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    data = {"csrf_token": token, "etag": etag, "jwk": json.dumps(mine.jwk)}
    added = await http.post(f"{CLIENTS}/{key}/keys", data=data, headers=ORIGIN)
    assert added.status_code == 303, added.text
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert f'name="tokenEndpointAuthMethod" value="{TLS}"' in page
    etag = field_value(page, "etag")
    data = {"csrf_token": token, "etag": etag, "tokenEndpointAuthMethod": TLS}
    switched = await http.post(f"{CLIENTS}/{key}/method", data=data, headers=ORIGIN)
    assert switched.status_code == 303, switched.text
    assert switched.headers["location"] == f"{CLIENTS}/{key}?done=self-signed-tls"
    page = (await http.get(switched.headers["location"])).text
    assert "now authenticates with self_signed_tls_client_auth" in page
    assert "Rotate secret" not in page
    assert (await run(http, tls_command(page, "curl"), mine)).status_code == 200
    [event, *_] = await audit_events(http, org, key)
    assert event["changes"]["tokenEndpointAuthMethod"] == ["client_secret_basic", TLS]


# --- tlsClientCertificateBoundAccessTokens ------------------------------------------------------


async def test_a_client_is_created_bound_and_its_command_connects_with_the_certificate(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    answer = await create(http, org, token, **{FLAG: "true"})
    key = created_key(answer.text)
    assert shown_secret(answer.text) is not None
    assert (await api_client(http, org, key))[FLAG] is True
    [created] = await audit_events(http, org, key)
    assert created["changes"][FLAG] == [None, True]
    shown = tls_command(answer.text, "curl-secret")
    assert shown.options == {"--cert": "client-cert.pem", "--key": "client-key.pem"}
    assert "works only over connections made with that certificate" in text_of(
        answer.text, "tls-hint"
    )
    # Followed with a certificate, it mints a token bound to that certificate.
    mine = Certificate()
    minted = await run(http, shown, mine)
    assert minted.status_code == 200, minted.text
    claims = jwt.decode(minted.json()["data"]["accessToken"], options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": mine.x5t}
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert text_of(page, "certificate-bound").startswith("yes: each token carries")
    assert tls_command(page, "curl").options["--cert"] == "client-cert.pem"


async def test_the_flag_is_set_and_cleared_from_the_client_page(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    answer = await create(http, org, token)
    key = created_key(answer.text)
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert field_value(page, FLAG) == "true"
    assert "Bind tokens to the TLS certificate" in page
    assert tls_command(page, "curl").options == {}
    before = await api_client(http, org, key)

    bound = await set_flag(http, key, token, "true")
    assert bound.status_code == 303, bound.text
    assert bound.headers["location"] == f"{CLIENTS}/{key}?done=certificate-on"
    page = (await http.get(bound.headers["location"])).text
    assert "Its tokens are now bound to its TLS certificate" in page
    assert text_of(page, "certificate-bound").startswith("yes:")
    assert field_value(page, FLAG) == "false"
    assert "Stop binding tokens to the TLS certificate" in page
    assert tls_command(page, "curl").options["--key"] == "client-key.pem"
    after = await api_client(http, org, key)
    kept = {"attribution", FLAG}
    assert {k: v for k, v in after.items() if k not in kept} == {
        k: v for k, v in before.items() if k not in kept
    }
    assert after[FLAG] is True

    cleared = await set_flag(http, key, token, "false")
    assert cleared.status_code == 303, cleared.text
    assert cleared.headers["location"] == f"{CLIENTS}/{key}?done=certificate-off"
    page = (await http.get(cleared.headers["location"])).text
    assert "Its tokens are no longer bound to its TLS certificate." in page
    assert text_of(page, "certificate-bound").startswith("no:")
    assert (await api_client(http, org, key))[FLAG] is False

    events = await audit_events(http, org, key)
    assert [e["action"] for e in events] == ["client.update", "client.update", "client.create"]
    assert [e["changes"] for e in events[:2]] == [{FLAG: [True, False]}, {FLAG: [False, True]}]
    admin = f"{org.admin.code} (admin)"
    assert [row[1:] for row in history(page)[:2]] == [["Changed client.update", admin, FLAG]] * 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("false", "The client's tokens already are not bound to its TLS certificate."),
        ("", f"{FLAG} must be true or false."),
        ("on", f"{FLAG} must be true or false."),
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
    assert f'aria-describedby="certificate-hint {FLAG}-error" aria-invalid="true"' in answer.text
    assert await api_client(http, org, key) == before
    assert [e["action"] for e in await audit_events(http, org, key)] == ["client.create"]


async def test_a_stale_form_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    key = created_key((await create(http, org, token)).text)
    stale = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    change = client_form(org.tills[0].id, token, name="renamed", access=ALL_READ)
    saved = await http.post(f"{CLIENTS}/{key}", data=change | {"etag": stale}, headers=ORIGIN)
    assert saved.status_code == 303
    answer = await set_flag(http, key, token, "true", etag=stale)
    assert answer.status_code == 412
    assert "changed since you read it" in answer.text
    assert (await api_client(http, org, key))[FLAG] is False
    assert len(await audit_events(http, org, key)) == 2


async def test_a_flag_value_no_checkbox_sends_is_named_and_nothing_is_created(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    form = client_form(org.tills[0].id, token) | {FLAG: "yes"}
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 400
    assert error_for(answer.text, FLAG) == f"{FLAG} must be true or false."
    assert await api_clients(http, org) == []


@pytest.mark.parametrize("variant", ["no-token", "wrong-token", "other-origin"])
async def test_the_new_client_form_needs_its_token_and_this_site(
    http: httpx.AsyncClient, org: OrgFixture, variant: str
) -> None:
    token = await sign_in(http, org.admin)
    mine = Certificate()
    form = secretless_form(org.tills[0].id, token, method=TLS, jwk=json.dumps(mine.jwk))
    form[FLAG] = "true"
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
    answer = await http.post(f"{CLIENTS}/{key}/certificate-bound", data=data, headers=headers)
    assert answer.status_code == 403
    assert await api_client(http, org, key) == before


async def test_another_orgs_client_is_out_of_reach(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    theirs = await create_client(http, other_org, name="theirs")
    key = theirs["clientKey"]
    before = await api_client(http, other_org, key)
    token = await sign_in(http, org.admin)
    answer = await http.post(
        f"{CLIENTS}/{key}/certificate-bound",
        data={"csrf_token": token, FLAG: "true"},
        headers=ORIGIN,
    )
    assert answer.status_code == 404
    assert await api_client(http, other_org, key) == before

"""The console and tls_client_auth (RFC 8705 §2.1): offered on the new-client form with the one
name its certificate carries (which name, and its value), shown on the client's page, offered as
a switch there with the name, and the name changed by a form of its own — each a guarded POST and
one audited update; a refusal shown beside the value, nothing changed. Without a CA bundle the
method is refused beside the method's choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from tests.console.api_reads import api_client, api_clients, audit_events, create
from tests.console.credentials import created_key, form_curl, shown_secret
from tests.console.page_text import text_of
from tests.support.api import ISSUER, SERVER_SECRET, OrgFixture
from tests.support.certificates import HEADER, CertificateAuthority, Issued
from tests.support.console import CLIENTS, ORIGIN, client_form, error_for, field_value, sign_in

TLS = "tls_client_auth"
METHOD = "tokenEndpointAuthMethod"
DN, URI = "tlsClientAuthSubjectDn", "tlsClientAuthSanUri"
SUBJECT = "CN=partner,O=Acme,C=DE"


@pytest.fixture
def pki(tmp_path: Path) -> CertificateAuthority:
    directory = tmp_path / "pki"
    directory.mkdir()
    return CertificateAuthority(directory, "client-ca")


@pytest.fixture
def ca_bundle(request: pytest.FixtureRequest, pki: CertificateAuthority) -> Path | None:
    return pki.certfile if getattr(request, "param", True) else None


@pytest.fixture
def settings(database_url: str, ca_bundle: Path | None) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SERVER_SECRET,
        issuer=ISSUER,
        client_cert_header=HEADER,
        trusted_proxies="127.0.0.1",
        client_ca_certs=ca_bundle,
        _env_file=None,
    )


@pytest.fixture
def partner(pki: CertificateAuthority) -> Issued:
    return pki.issue("partner", subject=SUBJECT, uris=["spiffe://acme.example/partner"])


def tls_form(till_id: int, token: str, name: str, value: str) -> dict[str, str]:
    return client_form(till_id, token, name="pki-partner") | {
        METHOD: TLS,
        "tlsClientAuthName": name,
        "tlsClientAuthValue": value,
    }


async def mint(http: httpx.AsyncClient, html: str, certificate: Issued) -> httpx.Response:
    """What the page's command does, through the TLS terminator with ``certificate``."""
    url, fields = form_curl(html, "curl")
    assert url == f"{ISSUER}/oauth2/token"
    body = "&".join(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"} | certificate.header()
    return await http.post(url.removeprefix(ISSUER), content=body, headers=headers)


async def post(
    http: httpx.AsyncClient, key: str, path: str, token: str, **fields: str
) -> httpx.Response:
    etag = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    data = {"csrf_token": token, "etag": etag} | fields
    return await http.post(f"{CLIENTS}/{key}/{path}", data=data, headers=ORIGIN)


async def test_a_client_is_created_with_its_certificate_name_and_its_command_mints(
    http: httpx.AsyncClient, org: OrgFixture, partner: Issued, pki: CertificateAuthority
) -> None:
    token = await sign_in(http, org.admin)
    page = (await http.get(f"{CLIENTS}/new")).text
    assert f'<input type="radio" name="{METHOD}" value="{TLS}">' in page
    assert '<option value="tlsClientAuthSanIp">' in page
    answer = await http.post(
        f"{CLIENTS}/new", data=tls_form(org.tills[0].id, token, DN, SUBJECT), headers=ORIGIN
    )
    assert answer.status_code == 200, answer.text
    key = created_key(answer.text)
    assert shown_secret(answer.text) is None
    assert "authenticates with tls_client_auth" in text_of(answer.text, "no-secret")
    assert "issued by a CA this deployment trusts" in text_of(answer.text, "tls-hint")
    detail = await api_client(http, org, key)
    assert (detail[METHOD], detail[DN], detail[URI]) == (TLS, SUBJECT, None)

    assert (await mint(http, answer.text, partner)).status_code == 200
    stranger = pki.issue("stranger", subject="CN=stranger,O=Acme,C=DE")
    assert (await mint(http, answer.text, stranger)).status_code == 401

    shown = (await http.get(f"{CLIENTS}/{key}")).text
    assert text_of(shown, "method") == f"{TLS} (a TLS certificate from a trusted CA; no secret)"
    assert text_of(shown, "tls-name") == f"Subject DN {SUBJECT}"
    assert text_of(shown, "last-credential").startswith(
        f"TLS certificate {partner.x5t_s256} (x5t#S256),"
    )
    assert "Rotate secret" not in shown
    assert "Save the name" in shown


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (DN, "not a dn", "is not a distinguished name in RFC 4514 form"),
        ("tlsClientAuthSanIp", "300.1.1.1", "is not an IPv4 or IPv6 address"),
        (DN, "", "must not be blank"),
    ],
)
async def test_a_bad_name_is_refused_beside_the_value_and_nothing_is_created(
    http: httpx.AsyncClient, org: OrgFixture, name: str, value: str, message: str
) -> None:
    token = await sign_in(http, org.admin)
    form = tls_form(org.tills[0].id, token, name, value)
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 400
    assert message in (error_for(answer.text, "tlsClientAuthValue") or "")
    assert field_value(answer.text, "tlsClientAuthValue") == value  # kept as typed
    assert await api_clients(http, org) == []


async def test_an_unknown_kind_of_name_is_refused_beside_the_choice(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    form = tls_form(org.tills[0].id, token, "tlsClientAuthSanFax", "123")
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 400
    assert error_for(answer.text, "tlsClientAuthName") == (
        "Choose which name of the certificate to match."
    )
    assert await api_clients(http, org) == []


async def test_a_secret_client_switches_changes_its_name_and_switches_back(
    http: httpx.AsyncClient, org: OrgFixture, partner: Issued
) -> None:
    token = await sign_in(http, org.admin)
    key = created_key((await create(http, org, token)).text)
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert f'name="{METHOD}" value="{TLS}"' in page

    blank = await post(
        http, key, "method", token, **{METHOD: TLS, "tlsClientAuthName": DN}, tlsClientAuthValue=""
    )
    assert blank.status_code == 400
    assert "must not be blank" in (error_for(blank.text, "tlsClientAuthValue") or "")
    assert (await api_client(http, org, key))[METHOD] == "client_secret_basic"

    switched = await post(
        http,
        key,
        "method",
        token,
        **{METHOD: TLS},
        tlsClientAuthName=DN,
        tlsClientAuthValue=SUBJECT,
    )
    assert switched.status_code == 303, switched.text
    assert switched.headers["location"] == f"{CLIENTS}/{key}?done=tls-client-auth"
    shown = (await http.get(switched.headers["location"])).text
    assert "now authenticates with tls_client_auth" in shown
    assert (await mint(http, shown, partner)).status_code == 200

    renamed = await post(
        http,
        key,
        "tls-name",
        token,
        tlsClientAuthName=URI,
        tlsClientAuthValue="spiffe://acme.example/partner",
    )
    assert renamed.status_code == 303, renamed.text
    assert renamed.headers["location"] == f"{CLIENTS}/{key}?done=tls-name-saved"
    shown = (await http.get(renamed.headers["location"])).text
    assert text_of(shown, "tls-name") == "SAN: URI spiffe://acme.example/partner"
    detail = await api_client(http, org, key)
    assert (detail[DN], detail[URI]) == (None, "spiffe://acme.example/partner")
    assert (await mint(http, shown, partner)).status_code == 200

    back = await post(http, key, "method", token, **{METHOD: "client_secret_basic"})
    assert back.status_code == 200, back.text
    assert shown_secret(back.text) is not None
    assert (await api_client(http, org, key))[URI] is None

    events = await audit_events(http, org, key)
    assert [event["action"] for event in events] == ["client.update"] * 3 + ["client.create"]
    assert events[2]["changes"][METHOD] == ["client_secret_basic", TLS]
    assert events[2]["changes"][DN] == [None, SUBJECT]
    assert events[1]["changes"] == {
        DN: [SUBJECT, None],
        URI: [None, "spiffe://acme.example/partner"],
    }
    assert events[0]["changes"][URI] == ["spiffe://acme.example/partner", None]


@pytest.mark.parametrize("variant", ["no-token", "wrong-token", "other-origin"])
async def test_the_name_form_needs_its_token_and_this_site(
    http: httpx.AsyncClient, org: OrgFixture, variant: str
) -> None:
    token = await sign_in(http, org.admin)
    answer = await http.post(
        f"{CLIENTS}/new", data=tls_form(org.tills[0].id, token, DN, SUBJECT), headers=ORIGIN
    )
    key = created_key(answer.text)
    before = await api_client(http, org, key)
    data: dict[str, Any] = {
        "etag": field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag"),
        "tlsClientAuthName": URI,
        "tlsClientAuthValue": "urn:x",
    }
    headers = dict(ORIGIN)
    if variant == "wrong-token":
        data["csrf_token"] = "forged"
    elif variant == "other-origin":
        data["csrf_token"] = token
        headers["Origin"] = "https://evil.example"
    refused = await http.post(f"{CLIENTS}/{key}/tls-name", data=data, headers=headers)
    assert refused.status_code == 403
    assert await api_client(http, org, key) == before


@pytest.mark.parametrize("ca_bundle", [False], indirect=True)
async def test_without_a_ca_bundle_the_method_is_refused_beside_its_choice(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    form = tls_form(org.tills[0].id, token, DN, SUBJECT)
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 400
    assert "KEYLOFT_CLIENT_CA_CERTS" in (error_for(answer.text, METHOD) or "")
    assert await api_clients(http, org) == []

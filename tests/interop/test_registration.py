"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592) against a live
Keyloft over real HTTP, through client libraries written independently of it: a client
registers itself with Authlib's OAuth2Session, with requests-oauth2client, and with panva's
openid-client (Node) and its ``dynamicClientRegistration`` helper, then gets tokens with the
credentials the registration answered (verified against Keyloft's published keys with PyJWT),
and reads, replaces and deletes its registration with the registration access token
(requests-oauth2client's ``BearerToken``, Authlib's session).

What of RFC 7591 / RFC 7592 these tests exercise from the client's side:

- RFC 8414 §2 / RFC 7591 §3: the client finds ``registration_endpoint`` in the metadata
  (openid-client discovers it; the Python clients read it).
- RFC 7591 §3: the registration request is authorised by an initial access token (a token of
  another client with write on the endpoint, sent as Bearer) or by an admin's Basic login.
- RFC 7591 §3.1 / §3.2.1: a JSON POST of the metadata, answered 201 with ``client_id``,
  ``client_secret`` and ``client_secret_expires_at`` for a secret client, ``client_id_issued_at``
  and the registered metadata (``grant_types``, ``token_endpoint_auth_method``, ``scope``…);
  Authlib's own server-side validator of client metadata accepts the answer, and openid-client
  builds its client configuration from it.
- RFC 7591 §2: ``client_secret_basic``, ``client_secret_post`` and ``private_key_jwt`` (with
  ``jwks``) are each used by the library as registered, at the token endpoint.
- RFC 7591 §3.2.2: a refused registration (no initial token, a grant type other than
  client_credentials) is surfaced by openid-client with the error code and description.
- RFC 7592 §2.1-2.3: read (200, the same metadata), update (200 and a new registration access
  token; the old one refused), delete (204; afterwards the token and the client are refused).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7591 import ClientMetadataClaims
from requests_oauth2client import (
    BearerToken,
    InvalidClient,
    OAuth2Client,
    OAuth2ClientCredentialsAuth,
    PrivateKeyJwt,
)

from tests.interop.published import metadata, verified_claims
from tests.interop.secretless import generate_key
from tests.support.ci import unavailable
from tests.support.live import LiveServer

NODE_DIR = Path(__file__).parent / "node"
NODE_SCRIPT = NODE_DIR / "register.mjs"
NODE_SECONDS = 30
SCOPE = "TargetGroups:readwrite All:read"
# The client whose tokens are the initial access tokens: write on the registration endpoint's
# entity (All), and no less than what it registers.
REGISTRAR_SCOPES = [
    {"entityId": 1, "permission": "READWRITE", "resources": []},
    {"entityId": 2, "permission": "READWRITE", "resources": []},
]
ISSUED = ("client_secret", "registration_access_token", "client_id_issued_at")


@pytest.fixture
def registrar(live: LiveServer) -> OAuth2Client:
    """requests-oauth2client's client for a client of the live org that may register others."""
    created = httpx.post(
        f"{live.url}/v3/integrations/clients",
        json={
            "name": "registrar",
            "description": "registers integrations",
            "expirationTokenTime": 600,
            "defaultTillId": live.org.tills[0].id,
            "scopes": REGISTRAR_SCOPES,
        },
        auth=(live.org.admin.code, live.org.admin.password),
    )
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    return OAuth2Client(
        token_endpoint=metadata(live)["token_endpoint"],
        auth=(data["clientKey"], data["clientSecret"]),
        testing=True,  # plain HTTP on 127.0.0.1: its https-only check is off
    )


def _metadata(**fields: Any) -> dict[str, Any]:
    return {"client_name": "self-registered", "scope": SCOPE, **fields}


def _rfc7592(answer: dict[str, Any]) -> tuple[str, BearerToken]:
    """The registration client URI and its token as requests-oauth2client's Bearer auth."""
    return answer["registration_client_uri"], BearerToken(answer["registration_access_token"])


def _verified(live: LiveServer, token: str, client_id: str) -> None:
    claims = verified_claims(live, token)
    assert claims["client_id"] == claims["sub"] == client_id
    assert claims["scope"] == SCOPE


# --- Authlib and requests-oauth2client -------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_registers_mints_reads_and_deletes(
    live: LiveServer, registrar: OAuth2Client, method: str
) -> None:
    meta = metadata(live)
    initial = registrar.client_credentials()
    token = {"access_token": initial.access_token, "token_type": "Bearer"}
    with OAuth2Session(token=token) as session:
        answer = session.post(
            meta["registration_endpoint"], json=_metadata(token_endpoint_auth_method=method)
        )
    assert answer.status_code == 201, answer.text
    assert answer.request.headers["Authorization"] == f"Bearer {initial.access_token}"
    registered = answer.json()
    claims = ClientMetadataClaims(registered, {})
    claims.validate()  # Authlib's RFC 7591 metadata rules hold for the answer
    assert registered["token_endpoint_auth_method"] == method
    assert registered["grant_types"] == ["client_credentials"]
    assert registered["client_secret_expires_at"] == 0
    client_id, secret = registered["client_id"], registered["client_secret"]

    with OAuth2Session(client_id, secret, token_endpoint_auth_method=method) as client:
        minted = client.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    _verified(live, minted["access_token"], client_id)

    uri, auth = _rfc7592(registered)
    read = requests.get(uri, auth=auth, timeout=10)
    assert read.status_code == 200, read.text
    assert read.json() == {k: v for k, v in registered.items() if k != "client_secret"}
    deleted = requests.delete(uri, auth=auth, timeout=10)
    assert deleted.status_code == 204, deleted.text
    again = requests.get(uri, auth=auth, timeout=10)
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_token"
    with (
        OAuth2Session(client_id, secret, token_endpoint_auth_method=method) as client,
        pytest.raises(OAuthError) as refused,
    ):
        client.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


def test_requests_oauth2client_registers_a_private_key_jwt_client_and_updates_it(
    live: LiveServer, registrar: OAuth2Client
) -> None:
    meta = metadata(live)
    key = generate_key("ES256")
    # The initial access token fetched and sent by requests-oauth2client's own auth handler.
    answer = requests.post(
        meta["registration_endpoint"],
        json=_metadata(
            token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.public_jwk]}
        ),
        auth=OAuth2ClientCredentialsAuth(registrar),
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    registered = answer.json()
    assert "client_secret" not in registered
    assert registered["jwks"] == {"keys": [key.public_jwk]}
    client_id = registered["client_id"]
    oauth = OAuth2Client(
        token_endpoint=meta["token_endpoint"],
        auth=PrivateKeyJwt(client_id, key.private_jwk),
        testing=True,
    )
    _verified(live, oauth.client_credentials().access_token, client_id)

    # RFC 7592 §2.2: the whole metadata again, with the client_id; a new token answers.
    uri, auth = _rfc7592(registered)
    update = {k: v for k, v in registered.items() if k not in (*ISSUED, "registration_client_uri")}
    update["client_name"] = "renamed"
    replaced = requests.put(uri, json=update, auth=auth, timeout=10)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["client_name"] == "renamed"
    fresh = BearerToken(replaced.json()["registration_access_token"])
    assert requests.get(uri, auth=auth, timeout=10).status_code == 401
    assert requests.get(uri, auth=fresh, timeout=10).json()["client_name"] == "renamed"
    assert requests.delete(uri, auth=fresh, timeout=10).status_code == 204
    with pytest.raises(InvalidClient):
        oauth.client_credentials()


def test_an_admin_registers_by_basic(live: LiveServer) -> None:
    answer = requests.post(
        metadata(live)["registration_endpoint"],
        json=_metadata(keyloft_default_till_id=live.org.tills[1].id),
        auth=(live.org.admin.code, live.org.admin.password),
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    registered = answer.json()
    oauth = OAuth2Client(
        token_endpoint=metadata(live)["token_endpoint"],
        auth=(registered["client_id"], registered["client_secret"]),
        testing=True,
    )
    _verified(live, oauth.client_credentials().access_token, registered["client_id"])


# --- openid-client (Node) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with openid-client installed beside the script (``make install``
    runs ``npm ci`` there). Without node the tests are skipped, except under CI."""
    executable = shutil.which("node")
    if executable is None:
        unavailable("node is not installed: the openid-client interop tests need Node.js 20+")
    installed = NODE_DIR / "node_modules" / "openid-client" / "package.json"
    if not installed.exists():
        pytest.fail(f"openid-client is not installed in {NODE_DIR}: run `make install`")
    return executable


def _openid_client(node: str, live: LiveServer, body: dict[str, Any], **env: str) -> dict[str, Any]:
    ran = subprocess.run(
        [node, str(NODE_SCRIPT)],
        env={
            **os.environ,
            "KEYLOFT_ISSUER": live.issuer,
            "KEYLOFT_METADATA": json.dumps(body),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=NODE_SECONDS,
        check=False,
        cwd=NODE_DIR,
    )
    assert ran.returncode in (0, 3), f"node exited {ran.returncode}: {ran.stderr}"
    answer: dict[str, Any] = json.loads(ran.stdout)
    assert answer["ok"] is (ran.returncode == 0), ran.stdout
    return answer


@pytest.fixture
def initial_token(registrar: OAuth2Client) -> str:
    """An initial access token (RFC 7591 §3): one of the registrar's access tokens."""
    token: str = registrar.client_credentials().access_token
    return token


def test_openid_client_registers_itself_and_mints(
    node: str, live: LiveServer, initial_token: str
) -> None:
    answer = _openid_client(
        node, live, _metadata(), KEYLOFT_INITIAL_ACCESS_TOKEN=initial_token, KEYLOFT_SCOPE=SCOPE
    )
    assert answer["metadata"]["registration_endpoint"] == f"{live.url}/oauth2/register"
    registered = answer["registered"]
    client_id = registered["client_id"]
    assert registered["client_secret"]
    assert registered["token_endpoint_auth_method"] == "client_secret_basic"
    assert answer["token"]["token_type"].lower() == "bearer"
    _verified(live, answer["token"]["access_token"], client_id)

    uri, auth = _rfc7592(registered)
    read = requests.get(uri, auth=auth, timeout=10)
    assert read.status_code == 200, read.text
    assert read.json()["client_id"] == client_id
    assert read.json()["scope"] == SCOPE
    assert requests.delete(uri, auth=auth, timeout=10).status_code == 204
    assert requests.get(uri, auth=auth, timeout=10).status_code == 401


def test_openid_client_registers_a_private_key_jwt_client(
    node: str, live: LiveServer, initial_token: str
) -> None:
    key = generate_key("ES256")
    body = _metadata(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.public_jwk]})
    answer = _openid_client(
        node,
        live,
        body,
        KEYLOFT_INITIAL_ACCESS_TOKEN=initial_token,
        KEYLOFT_PRIVATE_JWK=json.dumps(key.private_jwk),
    )
    registered = answer["registered"]
    assert "client_secret" not in registered
    _verified(live, answer["token"]["access_token"], registered["client_id"])


def test_openid_client_is_told_why_a_registration_is_refused(
    node: str, live: LiveServer, initial_token: str
) -> None:
    anonymous = _openid_client(node, live, _metadata())
    assert anonymous["status"] == 401
    assert anonymous["error"] == "invalid_token"
    schemes = {challenge["scheme"] for challenge in anonymous["challenges"]}
    assert schemes == {"basic", "bearer"}
    code_flow = _openid_client(
        node,
        live,
        _metadata(grant_types=["authorization_code"], redirect_uris=["https://a.test/cb"]),
        KEYLOFT_INITIAL_ACCESS_TOKEN=initial_token,
    )
    assert code_flow["status"] == 400
    assert code_flow["error"] == "invalid_client_metadata"
    assert "grant_types" in code_flow["error_description"]

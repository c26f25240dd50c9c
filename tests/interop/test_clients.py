"""Independent OAuth 2.0 and JOSE libraries against a live Keyloft: Authlib's OAuth2Session,
requests-oauthlib's BackendApplicationClient, PyJWT's PyJWKClient — and Keyloft's own
resource-server verifier over real HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from keyloft.resource import TokenVerifier
from tests.interop.published import metadata
from tests.support.live import LiveServer


def _token(live: LiveServer) -> str:
    answer = httpx.post(
        metadata(live)["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(live.client_key, live.client_secret),
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials(live: LiveServer, method: str) -> None:
    sent: list[requests.PreparedRequest] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        sent.append(response.request)

    token_endpoint = metadata(live)["token_endpoint"]
    with AuthlibSession(
        live.client_key, live.client_secret, token_endpoint_auth_method=method
    ) as client:
        client.hooks["response"].append(record)
        token = client.fetch_token(token_endpoint, grant_type="client_credentials")
        used = client.get(f"{live.url}/v3/integrations/scopes")
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "TargetGroups:readwrite All:read"
    body = sent[0].body
    form = parse_qs(body.decode() if isinstance(body, bytes) else str(body))
    if method == "client_secret_basic":
        assert sent[0].headers["authorization"].startswith("Basic ")
        assert "client_secret" not in form
    else:
        assert "authorization" not in sent[0].headers
        assert form["client_id"] == [live.client_key]
        assert form["client_secret"] == [live.client_secret]
    assert used.status_code == 200, used.text
    assert sent[1].headers["authorization"] == f"Bearer {token['access_token']}"
    assert {entity["entity"] for entity in used.json()["data"]} >= {"TargetGroups", "All"}


def test_requests_oauthlib_backend_application_client(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain HTTP on 127.0.0.1 only
    session = OAuth2Session(client=BackendApplicationClient(client_id=live.client_key))
    with session:
        token = session.fetch_token(
            token_url=metadata(live)["token_endpoint"],
            client_id=live.client_key,
            client_secret=live.client_secret,
        )
        used = session.get(f"{live.url}/v3/integrations/scopes")
    assert token["token_type"].lower() == "bearer"
    assert token["expires_in"] == 600
    assert used.status_code == 200, used.text
    assert used.request.headers["Authorization"] == f"Bearer {token['access_token']}"


def test_pyjwt_jwks_client_verifies_the_token(live: LiveServer) -> None:
    token = _token(live)
    keys = jwt.PyJWKClient(metadata(live)["jwks_uri"], cache_keys=False)
    signing_key = keys.get_signing_key_from_jwt(token)
    assert signing_key.key_id == jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(
        token, signing_key.key, algorithms=["RS256"], audience=live.issuer, issuer=live.issuer
    )
    assert claims["client_id"] == claims["sub"] == live.client_key
    assert claims["org_id"] == live.org.id
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, signing_key.key, algorithms=["RS256"], audience="https://other.test")


async def test_the_resource_verifier_over_real_http(live: LiveServer) -> None:
    token = _token(live)
    verifier = TokenVerifier(metadata(live)["jwks_uri"], live.issuer, live.issuer)
    verified = await verifier.verify(token)
    assert verified.client_key == live.client_key
    assert verified.org_id == live.org.id
    assert verifier.jwks.fetches == 1

"""DPoP (RFC 9449) against a live Keyloft over real HTTP, through two client libraries written
independently of Keyloft and of each other: panva's openid-client (Node) and requests-
oauth2client. Each gets a client credentials token bound to a key pair of its own making and
calls Keyloft's management API (``GET /v3/integrations/scopes``) with it; then the same with a
Keyloft that requires server nonces (``dpop_nonce="required"``).

What of RFC 9449 these tests exercise:

- §5 / §6: a proof at the token endpoint binds the token: ``token_type`` ``DPoP``, and the
  access token's ``cnf.jkt`` the RFC 7638 thumbprint (computed here, by hand) of the public key
  the library proved with (ES256 and Ed25519 — under RFC 9864's fully specified name, as
  openid-client sends it — from openid-client, ES256 from requests-oauth2client).
- §4.2 / §7.1: the token presented as ``Authorization: DPoP`` with a fresh proof of the same
  key (``htm``, ``htu`` without query, ``ath``) is accepted by the API, which answers exactly
  what the org's admin is answered.
- §8: with nonces required, the first proof at the token endpoint is answered 400
  ``use_dpop_nonce`` with a ``DPoP-Nonce`` header and each library retries once with it; at the
  API, a proof without the nonce is answered 401 with ``WWW-Authenticate: DPoP ...
  error="use_dpop_nonce"`` and a ``DPoP-Nonce`` header, and each library retries once with it.
  openid-client also carries the nonce of the token answer to the API (same origin), which
  Keyloft accepts there.
- §7.1 / §7.2: the bound token presented as ``Bearer``, or with a proof of another key that
  carries the right ``ath``, ``htm`` and ``htu``, is refused with the DPoP challenge.

Left to the API tests, which craft proofs by hand: malformed proofs, wrong ``htm``/``htu``/
``iat``, replayed proofs, ``dpopBoundAccessTokens``, the decision point.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from requests.adapters import HTTPAdapter
from requests_oauth2client import DPoPKey, DPoPToken, OAuth2Client
from requests_oauth2client.dpop import MissingDPoPNonce

from tests.interop.published import metadata, verified_claims
from tests.support.api import client_body
from tests.support.ci import unavailable
from tests.support.live import LiveServer

NODE_DIR = Path(__file__).parent / "node"
NODE_SCRIPT = NODE_DIR / "dpop.mjs"
NODE_SECONDS = 30
SCOPES_PATH = "/v3/integrations/scopes"
ALL_READ = [{"entityId": 2, "permission": "READ", "resources": []}]


# --- shared ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """A client with READ on entity 2 (All), created through the API."""

    client_key: str
    client_secret: str


def _reader(live: LiveServer) -> Reader:
    created = httpx.post(
        f"{live.url}/v3/integrations/clients",
        json=client_body(live.org, name="dpop-reader", scopes=ALL_READ),
        auth=(live.org.admin.code, live.org.admin.password),
    )
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    return Reader(data["clientKey"], data["clientSecret"])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members, in lexicographic order, without whitespace."""
    members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _ath(token: str) -> str:
    return _b64url(hashlib.sha256(token.encode("ascii")).digest())


def _bound_claims(live: LiveServer, token: str, reader: Reader) -> dict[str, Any]:
    """The claims of ``token`` once verified against Keyloft's JWKS; minted for ``reader``."""
    claims = verified_claims(live, token)
    assert claims["client_id"] == claims["sub"] == reader.client_key
    assert claims["scope"] == "All:read"
    return claims


def _as_admin(live: LiveServer) -> Any:
    """What the API answers the org's admin at the same endpoint."""
    answer = httpx.get(
        f"{live.url}{SCOPES_PATH}", auth=(live.org.admin.code, live.org.admin.password)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _proof(value: str | bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (unverified) header and claims of a DPoP proof."""
    return jwt.get_unverified_header(value), jwt.decode(value, options={"verify_signature": False})


def _foreign_proof(method: str, url: str, token: str) -> str:
    """A well-formed proof for this very request, signed by a key the token is not bound to."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    claims = {
        "jti": str(uuid.uuid4()),
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
        "ath": _ath(token),
    }
    return jwt.encode(claims, key, "ES256", headers={"typ": "dpop+jwt", "jwk": jwk})


class Recording(HTTPAdapter):
    """A transport adapter keeping every answer it gets, with the request it answers: what goes
    over the wire, resent requests included. (Response hooks would not do: when
    requests-oauth2client's DPoP handler resends a request with a nonce, the session's hooks
    after it are skipped.)"""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[requests.Response] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        response = super().send(request, *args, **kwargs)
        self.seen.append(response)
        return response


def _recorder(session: requests.Session) -> list[requests.Response]:
    """Every answer the session gets over HTTP, with the request it answers."""
    adapter = Recording()
    session.mount("http://", adapter)
    return adapter.seen


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


def _openid_client(node: str, live: LiveServer, reader: Reader, auth: str, alg: str) -> Any:
    env = {
        **os.environ,
        "KEYLOFT_ISSUER": live.issuer,
        "KEYLOFT_CLIENT_ID": reader.client_key,
        "KEYLOFT_CLIENT_SECRET": reader.client_secret,
        "KEYLOFT_CLIENT_AUTH": auth,
        "KEYLOFT_DPOP_ALG": alg,
    }
    ran = subprocess.run(
        [node, str(NODE_SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_SECONDS,
        check=False,
        cwd=NODE_DIR,
    )
    assert ran.returncode in (0, 3), f"node exited {ran.returncode}: {ran.stderr}"
    answer = json.loads(ran.stdout)
    assert answer["ok"] is (ran.returncode == 0), ran.stdout
    return answer


def _check_openid_client_token(
    live: LiveServer, reader: Reader, answer: Any, auth: str, alg: str
) -> tuple[str, list[Any]]:
    """What holds with or without nonces: the token bound to the key openid-client used, sent
    by the client authentication asked for; the access token and the exchanges after the
    token answer."""
    assert answer["ok"] is True, answer
    assert alg in answer["metadata"]["dpop_signing_alg_values_supported"]
    jwk = answer["publicJwk"]
    token = answer["token"]
    assert token["token_type"] == "dpop"  # as openid-client reports it: lower-cased
    exchanges = answer["exchanges"]
    token_calls = [x for x in exchanges if x["url"] == answer["metadata"]["token_endpoint"]]
    assert token_calls[-1]["status"] == 200
    assert json.loads(token_calls[-1]["body"])["token_type"] == "DPoP"  # as Keyloft sent it
    for call in token_calls:
        assert call["method"] == "POST"
        header, claims = _proof(call["dpop"])
        assert header == {"alg": alg, "typ": "dpop+jwt", "jwk": header["jwk"]}
        assert header["jwk"] == {name: jwk[name] for name in header["jwk"]}  # the public half
        assert (claims["htm"], claims["htu"]) == ("POST", f"{live.issuer}/oauth2/token")
        assert "ath" not in claims
        if auth == "basic":
            assert call["authorization"].startswith("Basic ")
        else:
            assert call["authorization"] is None
    claims = _bound_claims(live, token["access_token"], reader)
    assert claims["cnf"] == {"jkt": _thumbprint(jwk)}
    return token["access_token"], exchanges[len(token_calls) :]


def _check_api_call(live: LiveServer, exchange: Any, token: str) -> dict[str, Any]:
    """An API call as openid-client sent it: the DPoP scheme and a proof for it; its claims."""
    assert exchange["method"] == "GET"
    assert exchange["url"] == f"{live.issuer}{SCOPES_PATH}"
    assert exchange["authorization"] == f"DPoP {token}"
    _, claims = _proof(exchange["dpop"])
    assert claims["htm"] == "GET"
    assert claims["htu"] == f"{live.issuer}{SCOPES_PATH}"
    assert claims["ath"] == _ath(token)
    return claims


@pytest.mark.parametrize(("auth", "alg"), [("basic", "ES256"), ("post", "Ed25519")])
def test_openid_client_binds_a_token_and_calls_the_api(
    node: str, live: LiveServer, auth: str, alg: str
) -> None:
    reader = _reader(live)
    answer = _openid_client(node, live, reader, auth, alg)

    token, api_calls = _check_openid_client_token(live, reader, answer, auth, alg)
    # One token request, then one API request per handle: no retries without nonces.
    assert len(answer["exchanges"]) - len(api_calls) == 1
    assert [x["status"] for x in api_calls] == [200, 200], api_calls
    for exchange in api_calls:
        assert "nonce" not in _check_api_call(live, exchange, token)
    assert [call["status"] for call in answer["calls"]] == [200, 200]
    assert answer["calls"][0]["body"] == answer["calls"][1]["body"] == _as_admin(live)


@pytest.mark.parametrize(("auth", "alg"), [("basic", "ES256"), ("post", "Ed25519")])
def test_openid_client_retries_with_the_servers_nonce(
    node: str, live_dpop_nonces: LiveServer, auth: str, alg: str
) -> None:
    live = live_dpop_nonces
    reader = _reader(live)
    answer = _openid_client(node, live, reader, auth, alg)

    token, api_calls = _check_openid_client_token(live, reader, answer, auth, alg)
    asked, granted = answer["exchanges"][: len(answer["exchanges"]) - len(api_calls)]
    # At the token endpoint: refused for want of a nonce, then retried with the one given.
    assert asked["status"] == 400
    assert json.loads(asked["body"])["error"] == "use_dpop_nonce"
    assert asked["dpopNonce"]
    assert "nonce" not in _proof(asked["dpop"])[1]
    assert _proof(granted["dpop"])[1]["nonce"] == asked["dpopNonce"]
    assert granted["dpopNonce"]  # a fresh one with the token (RFC 9449 §8.2)

    # The token's handle carries the token answer's nonce to the API (same origin): accepted
    # at once. The second handle knows no nonce: asked for one with the DPoP challenge, it
    # retries once with it.
    first, challenged, retried = api_calls
    assert first["status"] == 200, first
    assert _check_api_call(live, first, token)["nonce"] == granted["dpopNonce"]
    assert challenged["status"] == 401
    assert "nonce" not in _check_api_call(live, challenged, token)
    assert challenged["wwwAuthenticate"].startswith("DPoP ")
    assert 'error="use_dpop_nonce"' in challenged["wwwAuthenticate"]
    assert challenged["dpopNonce"]
    assert retried["status"] == 200, retried
    assert _check_api_call(live, retried, token)["nonce"] == challenged["dpopNonce"]
    assert [call["status"] for call in answer["calls"]] == [200, 200]
    assert answer["calls"][0]["body"] == answer["calls"][1]["body"] == _as_admin(live)


# --- requests-oauth2client -------------------------------------------------------------------


def _oauth2client(live: LiveServer, reader: Reader) -> tuple[OAuth2Client, list[Any]]:
    session = requests.Session()
    seen = _recorder(session)
    oauth = OAuth2Client(
        token_endpoint=metadata(live)["token_endpoint"],
        auth=(reader.client_key, reader.client_secret),
        dpop_bound_access_tokens=True,
        session=session,
        testing=True,  # plain HTTP on 127.0.0.1: its https-only check is off
    )
    return oauth, seen


def _check_bound(live: LiveServer, reader: Reader, token: Any) -> None:
    assert isinstance(token, DPoPToken)
    assert token.token_type == "DPoP"
    claims = _bound_claims(live, token.access_token, reader)
    public = token.dpop_key.public_jwk.to_dict()
    assert claims["cnf"] == {"jkt": _thumbprint(public)}
    assert token.dpop_key.dpop_jkt == _thumbprint(public)


def test_requests_oauth2client_binds_a_token_and_calls_the_api(live: LiveServer) -> None:
    reader = _reader(live)
    oauth, minted = _oauth2client(live, reader)
    token = oauth.client_credentials()

    _check_bound(live, reader, token)
    assert [answer.status_code for answer in minted] == [200]
    header, claims = _proof(minted[0].request.headers["DPoP"])
    assert (header["typ"], header["alg"]) == ("dpop+jwt", "ES256")
    assert (claims["htm"], claims["htu"]) == ("POST", f"{live.issuer}/oauth2/token")

    api = requests.Session()
    seen = _recorder(api)
    answer = api.get(f"{live.url}{SCOPES_PATH}", auth=token, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == _as_admin(live)
    assert [response.status_code for response in seen] == [200]
    sent = answer.request.headers
    assert sent["Authorization"] == f"DPoP {token.access_token}"
    _, claims = _proof(sent["DPoP"])
    assert claims["htu"] == f"{live.issuer}{SCOPES_PATH}"
    assert claims["ath"] == _ath(token.access_token)
    assert "nonce" not in claims


def test_requests_oauth2client_retries_with_the_servers_nonce(
    live_dpop_nonces: LiveServer,
) -> None:
    live = live_dpop_nonces
    reader = _reader(live)
    oauth, minted = _oauth2client(live, reader)
    token = oauth.client_credentials()

    _check_bound(live, reader, token)
    # At the token endpoint: refused for want of a nonce, then retried with the one given.
    asked, granted = minted
    assert asked.status_code == 400
    assert asked.json()["error"] == "use_dpop_nonce"
    assert "nonce" not in _proof(asked.request.headers["DPoP"])[1]
    assert granted.status_code == 200, granted.text
    assert _proof(granted.request.headers["DPoP"])[1]["nonce"] == asked.headers["DPoP-Nonce"]

    # At the API: it does not carry the token endpoint's nonce over, so it is asked for one
    # with the DPoP challenge; its handler resends the request with it, once.
    api = requests.Session()
    seen = _recorder(api)
    answer = api.get(f"{live.url}{SCOPES_PATH}", auth=token, timeout=10)
    challenged, resent = seen
    assert resent is answer
    assert challenged.status_code == 401
    assert challenged.headers["WWW-Authenticate"].startswith("DPoP ")
    assert 'error="use_dpop_nonce"' in challenged.headers["WWW-Authenticate"]
    assert "nonce" not in _proof(challenged.request.headers["DPoP"])[1]
    assert answer.status_code == 200, answer.text
    assert answer.json() == _as_admin(live)
    _, claims = _proof(answer.request.headers["DPoP"])
    assert claims["nonce"] == challenged.headers["DPoP-Nonce"]
    assert claims["ath"] == _ath(token.access_token)


def test_requests_oauth2client_with_a_token_bound_to_another_key(live: LiveServer) -> None:
    """The library's handler with a key the token is not bound to: Keyloft refuses with the
    DPoP challenge (no nonce); the library, which reads every DPoP challenge on a 401 as a
    request for a nonce, raises MissingDPoPNonce rather than returning the answer."""
    reader = _reader(live)
    oauth, _ = _oauth2client(live, reader)
    token = oauth.client_credentials()
    stolen = DPoPToken(token.access_token, _dpop_key=DPoPKey.generate())

    with pytest.raises(MissingDPoPNonce) as raised:
        requests.get(f"{live.url}{SCOPES_PATH}", auth=stolen, timeout=10)
    refused = raised.value.response
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("DPoP ")
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert "DPoP-Nonce" not in refused.headers


# --- the binding, with a plain HTTP client ---------------------------------------------------


def test_a_bound_token_is_refused_as_bearer_or_with_another_keys_proof(live: LiveServer) -> None:
    reader = _reader(live)
    oauth, _ = _oauth2client(live, reader)
    token = oauth.client_credentials().access_token
    url = f"{live.issuer}{SCOPES_PATH}"

    as_bearer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401, as_bearer.text
    assert as_bearer.headers["WWW-Authenticate"].startswith("DPoP ")

    foreign = httpx.get(
        url, headers={"Authorization": f"DPoP {token}", "DPoP": _foreign_proof("GET", url, token)}
    )
    assert foreign.status_code == 401, foreign.text
    assert foreign.headers["WWW-Authenticate"].startswith("DPoP ")
    assert 'error="invalid_token"' in foreign.headers["WWW-Authenticate"]

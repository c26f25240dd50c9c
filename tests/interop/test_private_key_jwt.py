"""Secretless clients (private_key_jwt) against a live Keyloft over real HTTP, through three
client libraries written independently of Keyloft and of each other: Authlib, requests-
oauth2client and panva's openid-client (Node). Each client has a freshly generated key whose
public half was registered through the API; the tokens minted are verified against Keyloft's
published keys with PyJWT's PyJWKClient.

What of RFC 7523 (JWT profile for client authentication) and RFC 7521 (assertion framework)
these tests exercise:

- RFC 7521 §4.2 / RFC 7523 §2.2: the client authenticates at the token endpoint with
  ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and a single
  JWT in ``client_assertion``; ``client_id`` is optional (Authlib omits it, requests-oauth2client
  and openid-client send it: both are accepted).
- RFC 7521 §4.2.1 / RFC 7523 §3.2: an assertion that fails is answered with the RFC 6749 error
  ``invalid_client`` (HTTP 401), as each library surfaces it.
- RFC 7523 §3 items 1-2: ``iss`` and ``sub`` are the client_id (every library's assertions; the
  token's ``client_id`` and ``sub`` come out as that client).
- RFC 7523 §3 item 3: ``aud`` identifies the authorization server — the token endpoint URL
  (Authlib, requests-oauth2client), the issuer identifier (openid-client), and the URL of the
  endpoint called (requests-oauth2client's default at introspection) are accepted.
- RFC 7523 §3 item 4: ``exp`` is required and "unreasonably far in the future" may be refused:
  Authlib's default of one hour is refused, its assertions with a shorter life are accepted.
- RFC 7523 §3 items 5-6: ``nbf`` and ``iat`` when present (openid-client sends both, equal to
  the time of signing) are accepted.
- RFC 7523 §3 item 7: ``jti`` — Authlib makes a fresh one per assertion (four requests, four
  accepted), and a library's assertion replayed verbatim is refused.
- RFC 7523 §3 item 9: the JWT is signed by the client's key (RS256, ES256, EdDSA, and Ed25519
  under RFC 9864's fully specified name, as openid-client sends it) and one signed by another
  key, even under the registered ``kid``, is refused.
- RFC 7523 §2.2 beyond the token endpoint: the same client authentication at the RFC 7662
  introspection endpoint (all three libraries) and the RFC 7009 revocation endpoint (Authlib,
  requests-oauth2client).
- RFC 8414: the metadata names ``private_key_jwt`` and the assertion signing algorithms;
  requests-oauth2client and openid-client configure themselves from it.

Left to the API tests, which craft assertions by hand: a ``client_id`` naming another client
than the assertion (RFC 7521 §4.2), expired or not-yet-valid assertions, ``none`` and HMAC.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from joserfc.jwk import JWKRegistry
from requests_oauth2client import InvalidClient, OAuth2Client, PrivateKeyJwt

from tests.interop.published import metadata, verified_claims
from tests.interop.secretless import KeyPair, SecretlessClient, impostor
from tests.support.ci import unavailable
from tests.support.live import LiveServer

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NODE_DIR = Path(__file__).parent / "node"
NODE_SCRIPT = NODE_DIR / "client_credentials.mjs"
NODE_SECONDS = 30
SCOPE = "TargetGroups:readwrite All:read"
MakeClient = Callable[..., SecretlessClient]


# --- shared checks ---------------------------------------------------------------------------


def _metadata(live: LiveServer) -> dict[str, Any]:
    meta = metadata(live)
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert "private_key_jwt" in meta["introspection_endpoint_auth_methods_supported"]
    signing = set(meta["token_endpoint_auth_signing_alg_values_supported"])
    assert signing >= {"RS256", "ES256", "EdDSA"}
    return meta


def _verified(live: LiveServer, token: str, client: SecretlessClient) -> dict[str, Any]:
    """The claims of ``token`` once verified against Keyloft's JWKS; minted for ``client``."""
    _metadata(live)
    claims = verified_claims(live, token)
    assert claims["client_id"] == claims["sub"] == client.client_key
    assert claims["scope"] == SCOPE
    return claims


def _assertion_of(body: str | bytes | None) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The form a library sent and the (unverified) header and claims of its assertion."""
    text = body.decode() if isinstance(body, bytes) else str(body)
    form = parse_qs(text)
    assert form["client_assertion_type"] == [JWT_BEARER]
    (assertion,) = form["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    claims = jwt.decode(assertion, options={"verify_signature": False})
    return form, {"header": header, **claims}


def _refusal_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Why Keyloft refused assertions (its log, never its answer, tells the reason)."""
    return [
        str(record.reason)
        for record in caplog.records
        if record.name == "keyloft.client_auth" and hasattr(record, "reason")
    ]


@pytest.fixture
def refusals(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    caplog.set_level(logging.INFO, logger="keyloft.client_auth")
    return lambda: _refusal_reasons(caplog)


def _recorder(session: requests.Session) -> list[requests.Response]:
    """Every answer the session receives, with the request it answers."""
    seen: list[requests.Response] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        seen.append(response)

    session.hooks["response"].append(record)
    return seen


# --- Authlib ---------------------------------------------------------------------------------


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's PrivateKeyJWT with assertions that expire a minute after they are made: its
    default is an hour, which Keyloft refuses (at most five minutes)."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        signed: str = private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            claims=dict(self.claims or {}),
            header=dict(self.headers or {}),
            expires_in=60,
        )
        return signed


def _authlib(client: SecretlessClient, key: KeyPair, auth: PrivateKeyJWT) -> OAuth2Session:
    session = OAuth2Session(
        client.client_key,
        JWKRegistry.import_key(key.private_jwk),
        token_endpoint_auth_method="private_key_jwt",
        revocation_endpoint_auth_method="private_key_jwt",
    )
    session.register_client_auth_method(auth)
    return session


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_authlib_mints_introspects_and_revokes(
    live: LiveServer, secretless: MakeClient, alg: str
) -> None:
    meta = _metadata(live)
    client = secretless(alg)
    auth = ShortLivedPrivateKeyJWT(meta["token_endpoint"], alg=alg, headers={"kid": client.key.kid})
    with _authlib(client, client.key, auth) as session:
        seen = _recorder(session)
        token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        introspected = session.introspect_token(
            meta["introspection_endpoint"], token=token["access_token"]
        )
        revoked = session.revoke_token(meta["revocation_endpoint"], token=token["access_token"])
        after = session.introspect_token(
            meta["introspection_endpoint"], token=token["access_token"]
        )

    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == SCOPE
    claims = _verified(live, token["access_token"], client)
    assert introspected.status_code == 200, introspected.text
    info = introspected.json()
    assert info["active"] is True
    assert info["client_id"] == info["sub"] == client.client_key
    assert info["jti"] == claims["jti"]
    assert revoked.status_code == 200, revoked.text
    assert after.status_code == 200, after.text
    assert after.json() == {"active": False}

    # Four requests, each with an assertion of its own, all aimed at the token endpoint.
    assertions = [_assertion_of(answer.request.body)[1] for answer in seen]
    assert len(assertions) == 4
    assert len({assertion["jti"] for assertion in assertions}) == 4
    for assertion in assertions:
        assert assertion["header"] == {"typ": "JWT", "alg": alg, "kid": client.key.kid}
        assert assertion["iss"] == assertion["sub"] == client.client_key
        assert assertion["aud"] == meta["token_endpoint"]
        assert assertion["exp"] - assertion["iat"] == 60
    form, _ = _assertion_of(seen[0].request.body)
    assert "client_id" not in form  # Authlib leaves it out: the assertion names the client
    assert "authorization" not in {name.lower() for name in seen[0].request.headers}


def test_authlib_default_lifetime_of_an_hour_is_refused(
    live: LiveServer, secretless: MakeClient, refusals: Callable[[], list[str]]
) -> None:
    meta = _metadata(live)
    client = secretless("ES256")
    with _authlib(client, client.key, PrivateKeyJWT(meta["token_endpoint"], alg="ES256")) as s:
        seen = _recorder(s)
        with pytest.raises(OAuthError) as refused:
            s.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    assert seen[0].status_code == 401
    _, assertion = _assertion_of(seen[0].request.body)
    assert assertion["exp"] - assertion["iat"] == 3600
    assert refusals() == ["exp_too_far"]


def test_authlib_assertion_signed_by_another_key_is_refused(
    live: LiveServer, secretless: MakeClient, refusals: Callable[[], list[str]]
) -> None:
    meta = _metadata(live)
    client = secretless("RS256")
    auth = ShortLivedPrivateKeyJWT(meta["token_endpoint"], headers={"kid": client.key.kid})
    with _authlib(client, impostor(client.key), auth) as session:
        seen = _recorder(session)
        with pytest.raises(OAuthError) as refused:
            session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    assert seen[0].status_code == 401
    assert _assertion_of(seen[0].request.body)[1]["header"]["kid"] == client.key.kid
    assert refusals() == ["signature"]


def test_a_library_assertion_replayed_is_refused(
    live: LiveServer, secretless: MakeClient, refusals: Callable[[], list[str]]
) -> None:
    meta = _metadata(live)
    client = secretless("ES256")
    auth = ShortLivedPrivateKeyJWT(meta["token_endpoint"], alg="ES256")
    with _authlib(client, client.key, auth) as session:
        seen = _recorder(session)
        session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert seen[0].status_code == 200, seen[0].text
    replayed = httpx.post(
        meta["token_endpoint"],
        content=seen[0].request.body,
        headers={"content-type": seen[0].request.headers["content-type"]},
    )
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["error"] == "invalid_client"
    assert refusals() == ["replayed"]


# --- requests-oauth2client -------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_requests_oauth2client_client_credentials(
    live: LiveServer, secretless: MakeClient, alg: str
) -> None:
    meta = _metadata(live)
    client = secretless(alg)
    session = requests.Session()
    seen = _recorder(session)
    oauth = OAuth2Client(
        token_endpoint=meta["token_endpoint"],
        auth=PrivateKeyJwt(client.client_key, client.key.private_jwk),
        session=session,
        testing=True,  # plain HTTP on 127.0.0.1: its https-only check is off
    )
    token = oauth.client_credentials()

    assert token.token_type.lower() == "bearer"
    assert token.scope == SCOPE
    _verified(live, token.access_token, client)
    form, assertion = _assertion_of(seen[0].request.body)
    assert form["client_id"] == [client.client_key]
    assert form["grant_type"] == ["client_credentials"]
    assert assertion["header"]["alg"] == alg
    assert assertion["header"]["kid"] == client.key.kid
    assert assertion["iss"] == assertion["sub"] == client.client_key
    assert assertion["aud"] == meta["token_endpoint"]


def test_requests_oauth2client_from_server_metadata(
    live: LiveServer, secretless: MakeClient
) -> None:
    client = secretless("EdDSA")
    oauth = OAuth2Client.from_discovery_endpoint(
        f"{live.url}/.well-known/oauth-authorization-server",
        issuer=live.issuer,
        # The issuer as the audience (its default, the URL of the endpoint called, is
        # accepted too: see the next test).
        auth=PrivateKeyJwt(client.client_key, client.key.private_jwk, aud=live.issuer),
        testing=True,
    )
    meta = _metadata(live)
    assert oauth.token_endpoint == meta["token_endpoint"]
    assert oauth.introspection_endpoint == meta["introspection_endpoint"]
    assert oauth.revocation_endpoint == meta["revocation_endpoint"]
    token = oauth.client_credentials().access_token
    _verified(live, token, client)
    # It fetched Keyloft's keys from the metadata's jwks_uri: the token's key is among them.
    assert oauth.authorization_server_jwks.get_jwk_by_kid(jwt.get_unverified_header(token)["kid"])

    info = oauth.introspect_token(token)
    assert info["active"] is True
    assert info["client_id"] == client.client_key
    assert oauth.revoke_access_token(token) is True
    assert oauth.introspect_token(token) == {"active": False}


def test_requests_oauth2client_default_audience_of_the_endpoint_called_is_accepted(
    live: LiveServer, secretless: MakeClient, refusals: Callable[[], list[str]]
) -> None:
    meta = _metadata(live)
    client = secretless("ES256")
    oauth = OAuth2Client(
        token_endpoint=meta["token_endpoint"],
        introspection_endpoint=meta["introspection_endpoint"],
        auth=PrivateKeyJwt(client.client_key, client.key.private_jwk),
        testing=True,
    )
    token = oauth.client_credentials()
    info = oauth.introspect_token(token.access_token)
    assert info["active"] is True
    assert info["client_id"] == client.client_key
    assert refusals() == []


def test_requests_oauth2client_assertion_signed_by_another_key_is_refused(
    live: LiveServer, secretless: MakeClient, refusals: Callable[[], list[str]]
) -> None:
    client = secretless("EdDSA")
    oauth = OAuth2Client(
        token_endpoint=_metadata(live)["token_endpoint"],
        auth=PrivateKeyJwt(client.client_key, impostor(client.key).private_jwk),
        testing=True,
    )
    with pytest.raises(InvalidClient) as refused:
        oauth.client_credentials()
    assert refused.value.response.status_code == 401
    assert refused.value.error == "invalid_client"
    assert refusals() == ["signature"]


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


def _openid_client(node: str, live: LiveServer, client_key: str, key: KeyPair) -> dict[str, Any]:
    env = {
        **os.environ,
        "KEYLOFT_ISSUER": live.issuer,
        "KEYLOFT_CLIENT_ID": client_key,
        "KEYLOFT_PRIVATE_JWK": json.dumps(key.private_jwk),
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
    answer: dict[str, Any] = json.loads(ran.stdout)
    assert answer["ok"] is (ran.returncode == 0), ran.stdout
    return answer


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_openid_client_discovers_mints_and_introspects(
    node: str, live: LiveServer, secretless: MakeClient, alg: str
) -> None:
    client = secretless(alg)
    answer = _openid_client(node, live, client.client_key, client.key)

    assert answer["ok"] is True, answer
    assert answer["metadata"]["issuer"] == live.issuer
    token = answer["token"]
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == SCOPE
    assert token["expires_in"] == 600
    claims = _verified(live, token["access_token"], client)
    info = answer["introspection"]
    assert info["active"] is True
    assert info["client_id"] == client.client_key
    assert info["jti"] == claims["jti"]


def test_openid_client_assertion_signed_by_another_key_is_refused(
    node: str, live: LiveServer, secretless: MakeClient, refusals: Callable[[], list[str]]
) -> None:
    client = secretless("ES256")
    answer = _openid_client(node, live, client.client_key, impostor(client.key))

    assert answer["ok"] is False
    assert answer["error"] == "invalid_client"
    assert answer["status"] == 401
    assert refusals() == ["signature"]


def test_openid_client_with_an_ed25519_key(
    node: str, live: LiveServer, secretless: MakeClient, refusals: Callable[[], list[str]]
) -> None:
    client = secretless("EdDSA", declare_alg=False)  # the key itself allows any Ed25519 alg
    answer = _openid_client(node, live, client.client_key, client.key)

    assert refusals() == []
    assert answer["ok"] is True, answer
    _verified(live, answer["token"]["access_token"], client)

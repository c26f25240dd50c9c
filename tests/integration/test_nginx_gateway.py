"""A real nginx in front of a tiny upstream, asking a real ``keyloft serve`` through
``auth_request`` (GET /v3/oauth/check) whether each call may pass — the set-up of
docs/gateway.md, for bearer tokens and for DPoP-bound ones (RFC 9449): the proof, the token and
the call's public URL reach the decision point, and its challenge (and nonce) reach the client.

Skipped with the reason when nginx is not installed, except under CI (CI=true), where it fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tests.integration.nodes import Deployment, Node, deployment, free_port, stop, wait_ready
from tests.support.ci import unavailable

pytestmark = pytest.mark.slow

NGINX = "/usr/sbin/nginx"

# The server blocks are those of docs/gateway.md, with the test's addresses and paths.
NGINX_CONF = """\
worker_processes 1;
error_log {tmp}/error.log info;
{user}
events {{ worker_connections 64; }}

http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    upstream keyloft {{ server 127.0.0.1:{keyloft_port}; }}
    upstream api {{ server 127.0.0.1:{upstream_port}; }}

    server {{
        listen 127.0.0.1:{nginx_port} default_server;
        return 421;
    }}

    server {{
        listen 127.0.0.1:{nginx_port};
        server_name 127.0.0.1;

        location / {{
            auth_request /_keyloft;
            auth_request_set $keyloft_client $upstream_http_x_keyloft_client_key;
            auth_request_set $keyloft_org $upstream_http_x_keyloft_org_id;
            auth_request_set $keyloft_till $upstream_http_x_keyloft_till_id;
            auth_request_set $keyloft_dpop_nonce $upstream_http_dpop_nonce;
            add_header DPoP-Nonce $keyloft_dpop_nonce always;
            proxy_set_header X-Keyloft-Client-Key $keyloft_client;
            proxy_set_header X-Keyloft-Org-Id $keyloft_org;
            proxy_set_header X-Keyloft-Till-Id $keyloft_till;
            proxy_pass http://api;
        }}

        location = /_keyloft {{
            internal;
            proxy_pass http://keyloft/v3/oauth/check;
            proxy_method GET;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-CAP-API-OAUTH-TOKEN $http_x_cap_api_oauth_token;
            proxy_set_header Authorization $http_authorization;
        }}
    }}
}}
"""


class Upstream(ThreadingHTTPServer):
    """The API behind the gateway, remembering the path of every call that reached it."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Echo)
        self.seen: list[str] = []


class Echo(BaseHTTPRequestHandler):
    """The upstream: answers every call with the method, path and headers it received."""

    server: Upstream

    def _echo(self) -> None:
        self.server.seen.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _echo

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return None


@dataclass
class Backend:
    """Keyloft (one node on SQLite, with an org, its admin and a Till) and the upstream."""

    nginx: str
    tmp: Path
    running: Deployment
    upstream: Upstream


@dataclass
class Gateway:
    url: str
    keyloft: str
    issuer: str
    admin: dict[str, str]
    till_id: int
    seen: list[str]


def _nginx() -> str:
    binary = NGINX if os.path.exists(NGINX) else shutil.which("nginx")
    if binary is None:
        unavailable(f"nginx is not installed ({NGINX} missing)")
    assert binary is not None
    return binary


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/_ready_probe", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen within 20 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    binary = _nginx()
    tmp = tmp_path_factory.mktemp("gateway")
    upstream = Upstream()
    upstream_thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    upstream_thread.start()
    try:
        with deployment(f"sqlite:///{tmp}/keyloft.db", None, tmp, nodes=1) as running:
            yield Backend(binary, tmp, running, upstream)
    finally:
        upstream.shutdown()
        upstream.server_close()
        upstream_thread.join(5)


@pytest.fixture(scope="module")
def gateway(backend: Backend) -> Iterator[Gateway]:
    with _behind_nginx(backend, backend.running.nodes[0].url, "nginx") as url:
        yield _gateway(backend, url, backend.running.nodes[0].url)


@pytest.fixture(scope="module")
def nonce_gateway(backend: Backend) -> Iterator[Gateway]:
    """A second node of the same deployment that asks DPoP proofs for its nonce
    (KEYLOFT_DPOP_NONCE=required), behind an nginx of its own."""
    node = _serve(backend, {"KEYLOFT_DPOP_NONCE": "required"}, "nonce-node")
    try:
        wait_ready(node, within=60)
        with _behind_nginx(backend, node.url, "nonce-nginx") as url:
            yield _gateway(backend, url, node.url)
    finally:
        stop([node])


def _gateway(backend: Backend, url: str, keyloft: str) -> Gateway:
    user, password = backend.running.admin
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return Gateway(
        url,
        keyloft,
        backend.running.env["KEYLOFT_ISSUER"],
        {"Authorization": f"Basic {auth}"},
        backend.running.till_id,
        backend.upstream.seen,
    )


def _serve(backend: Backend, settings: dict[str, str], name: str) -> Node:
    """One more ``keyloft serve`` on the deployment's store, with ``settings`` on top."""
    port = free_port()
    log = backend.tmp / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "keyloft", "serve", "--port", str(port), "--workers", "1"],
            env=backend.running.env | settings,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Node(f"http://127.0.0.1:{port}", process, log)


@contextmanager
def _behind_nginx(backend: Backend, keyloft: str, name: str) -> Iterator[str]:
    """An nginx asking the Keyloft at ``keyloft`` about every call; yields its URL."""
    tmp = backend.tmp / name
    tmp.mkdir()
    nginx: subprocess.Popen[bytes] | None = None
    try:
        nginx_port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                tmp=tmp,
                # As root the workers would otherwise drop to "nobody", who may not read tmp.
                user="user root;" if os.geteuid() == 0 else "",
                keyloft_port=int(keyloft.rsplit(":", 1)[1]),
                upstream_port=backend.upstream.server_address[1],
                nginx_port=nginx_port,
            )
        )
        nginx_log = tmp / "nginx.out"
        with nginx_log.open("wb") as sink:
            nginx = subprocess.Popen(
                [
                    backend.nginx,
                    "-p",
                    str(tmp),
                    "-e",
                    str(tmp / "error.log"),
                    "-c",
                    str(conf),
                    "-g",
                    f"daemon off; pid {tmp}/nginx.pid;",
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_port(nginx_port, nginx, nginx_log)
        yield f"http://127.0.0.1:{nginx_port}"
    finally:
        if nginx is not None and nginx.poll() is None:
            os.killpg(nginx.pid, signal.SIGQUIT)
            try:
                nginx.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(nginx.pid, signal.SIGKILL)
                nginx.wait(5)


def _client(gateway: Gateway, name: str) -> dict[str, Any]:
    created = httpx.post(
        f"{gateway.keyloft}/v3/integrations/clients",
        json={
            "name": name,
            "description": "behind nginx",
            "expirationTokenTime": 600,
            "defaultTillId": gateway.till_id,
            # GET below /api/reports only (the fallback entity "All", read, one resource).
            "scopes": [{"entityId": 2, "permission": "READ", "resources": ["/api/reports.*"]}],
        },
        headers=gateway.admin,
        timeout=30,
    )
    assert created.status_code == 200, created.text
    data: dict[str, Any] = created.json()["data"]
    return data


def _oauth_token(gateway: Gateway, client: dict[str, Any]) -> str:
    answer = httpx.post(
        f"{gateway.keyloft}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client["clientKey"], client["clientSecret"]),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def _v3_token(gateway: Gateway, client: dict[str, Any]) -> str:
    answer = httpx.post(
        f"{gateway.keyloft}/v3/oauth/token/generate",
        json={"key": client["clientKey"], "secret": client["clientSecret"]},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["data"]["accessToken"]
    return token


def test_no_token_is_401_and_never_reaches_the_upstream(gateway: Gateway) -> None:
    answer = httpx.get(f"{gateway.url}/api/reports/1", timeout=10)
    assert answer.status_code == 401
    assert "method" not in answer.text
    bad = httpx.get(
        f"{gateway.url}/api/reports/1", headers={"X-CAP-API-OAUTH-TOKEN": "garbage"}, timeout=10
    )
    assert bad.status_code == 401
    # nginx passes the decision point's challenge on with a 401.
    assert bad.headers.get_list("www-authenticate") == [
        'Bearer realm="keyloft", error="invalid_token"'
    ]
    assert "dpop-nonce" not in bad.headers


@pytest.mark.parametrize("kind", ["oauth", "v3"])
def test_token_with_rights_reaches_the_upstream_with_its_identity(
    gateway: Gateway, kind: str
) -> None:
    client = _client(gateway, f"allowed-{kind}")
    if kind == "oauth":
        headers = {"Authorization": f"Bearer {_oauth_token(gateway, client)}"}
    else:
        headers = {"X-CAP-API-OAUTH-TOKEN": _v3_token(gateway, client)}
    answer = httpx.get(f"{gateway.url}/api/reports/1?day=today", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    echoed = answer.json()
    assert (echoed["method"], echoed["path"]) == ("GET", "/api/reports/1?day=today")
    assert echoed["headers"]["x-keyloft-client-key"] == client["clientKey"]
    assert echoed["headers"]["x-keyloft-till-id"] == str(gateway.till_id)
    assert echoed["headers"]["x-keyloft-org-id"].isdigit()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/api/orders/1", id="outside-resources"),
        pytest.param("POST", "/api/reports/1", id="write-on-read-grant"),
        pytest.param("GET", "/api/reports/1%2F..%2F..%2Forders", id="encoded-slashes"),
    ],
)
def test_token_without_rights_is_403(gateway: Gateway, method: str, path: str) -> None:
    client = _client(gateway, f"denied-{secrets.token_hex(3)}")
    headers = {"X-CAP-API-OAUTH-TOKEN": _v3_token(gateway, client)}
    answer = httpx.request(method, f"{gateway.url}{path}", headers=headers, json={}, timeout=10)
    assert answer.status_code == 403, answer.text
    assert "method" not in answer.text


def test_deleted_clients_token_is_401(gateway: Gateway) -> None:
    client = _client(gateway, "soon-deleted")
    headers = {"Authorization": f"Bearer {_oauth_token(gateway, client)}"}
    assert httpx.get(f"{gateway.url}/api/reports/1", headers=headers, timeout=10).status_code == 200
    deleted = httpx.delete(
        f"{gateway.keyloft}/v3/integrations/clients/{client['clientKey']}",
        headers=gateway.admin,
        timeout=30,
    )
    assert deleted.status_code == 200, deleted.text
    assert httpx.get(f"{gateway.url}/api/reports/1", headers=headers, timeout=10).status_code == 401


# DPoP (RFC 9449) through the gateway.


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Holder:
    """A client's DPoP key (EC P-256), signing a fresh proof for each call."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk: dict[str, str] = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        # RFC 7638: the SHA-256 of the required members, sorted, without whitespace.
        members = {name: self.jwk[name] for name in ("crv", "kty", "x", "y")}
        canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
        self.jkt = _b64url(hashlib.sha256(canonical).digest())

    def proof(self, method: str, url: str, token: str | None = None, **claims: Any) -> str:
        """A proof for one ``method`` call to ``url``, presenting ``token`` (its ``ath``)."""
        body: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if token is not None:
            body["ath"] = _b64url(hashlib.sha256(token.encode("ascii")).digest())
        return jwt.encode(
            body | claims, self.key, "ES256", headers={"typ": "dpop+jwt", "jwk": self.jwk}
        )


@pytest.fixture(scope="module")
def dpop_client(gateway: Gateway) -> dict[str, Any]:
    return _client(gateway, "dpop-holder")


def _bound_token(gateway: Gateway, client: dict[str, Any], holder: Holder) -> str:
    """A token from /oauth2/token bound to ``holder``'s key by a proof for the token endpoint
    as the issuer names it."""
    answer = httpx.post(
        f"{gateway.keyloft}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client["clientKey"], client["clientSecret"]),
        headers={"DPoP": holder.proof("POST", f"{gateway.issuer}/oauth2/token")},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "DPoP"
    token: str = answer.json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["cnf"] == {"jkt": holder.jkt}
    return token


def _marked(gateway: Gateway, path: str) -> tuple[str, str]:
    """The URL of a call to ``path`` with a query no other call has, and that query."""
    mark = f"call={secrets.token_hex(6)}"
    return f"{gateway.url}{path}?{mark}", mark


def _reached(gateway: Gateway, mark: str) -> bool:
    return any(mark in path for path in gateway.seen)


def _challenge(answer: httpx.Response) -> str:
    assert answer.status_code == 401, answer.text
    # Exactly Keyloft's one challenge: auth_request passes it on by itself.
    challenges = answer.headers.get_list("www-authenticate")
    assert len(challenges) == 1, challenges
    challenge = challenges[0]
    assert challenge.startswith('DPoP realm="keyloft", error="'), challenge
    assert "ES256" in challenge.split('algs="', 1)[1]
    return challenge.split('error="', 1)[1].split('"', 1)[0]


def test_bound_token_with_a_fresh_proof_for_the_public_url_reaches_the_upstream(
    gateway: Gateway, dpop_client: dict[str, Any]
) -> None:
    holder = Holder()
    token = _bound_token(gateway, dpop_client, holder)
    url, mark = _marked(gateway, "/api/reports/1")
    # htu is the public URL without the query: nginx's port is not the default one, so the
    # gateway must name the host with its port ($http_host, not $host).
    proof = holder.proof("GET", f"{gateway.url}/api/reports/1", token)
    answer = httpx.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert "dpop-nonce" not in answer.headers
    echoed = answer.json()
    assert (echoed["method"], echoed["path"]) == ("GET", f"/api/reports/1?{mark}")
    assert echoed["headers"]["x-keyloft-client-key"] == dpop_client["clientKey"]
    assert echoed["headers"]["x-keyloft-till-id"] == str(gateway.till_id)
    assert _reached(gateway, mark)


@pytest.mark.parametrize(
    ("header", "scheme", "with_proof", "error"),
    [
        pytest.param("Authorization", "Bearer ", False, "invalid_token", id="bearer"),
        pytest.param("X-CAP-API-OAUTH-TOKEN", "", False, "invalid_token", id="v3-header"),
        pytest.param("Authorization", "Bearer ", True, "invalid_token", id="bearer-with-proof"),
        pytest.param("Authorization", "DPoP ", False, "invalid_dpop_proof", id="no-proof"),
    ],
)
def test_bound_token_without_the_dpop_scheme_and_proof_is_401_with_the_dpop_challenge(
    gateway: Gateway,
    dpop_client: dict[str, Any],
    header: str,
    scheme: str,
    with_proof: bool,
    error: str,
) -> None:
    holder = Holder()
    token = _bound_token(gateway, dpop_client, holder)
    url, mark = _marked(gateway, "/api/reports/1")
    headers = {header: f"{scheme}{token}"}
    if with_proof:
        headers["DPoP"] = holder.proof("GET", f"{gateway.url}/api/reports/1", token)
    answer = httpx.get(url, headers=headers, timeout=10)
    assert _challenge(answer) == error
    assert "dpop-nonce" not in answer.headers
    assert not _reached(gateway, mark)


def test_replayed_proof_is_401_invalid_dpop_proof(
    gateway: Gateway, dpop_client: dict[str, Any]
) -> None:
    holder = Holder()
    token = _bound_token(gateway, dpop_client, holder)
    proof = holder.proof("GET", f"{gateway.url}/api/reports/1", token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    first, _ = _marked(gateway, "/api/reports/1")
    assert httpx.get(first, headers=headers, timeout=10).status_code == 200
    again, mark = _marked(gateway, "/api/reports/1")
    assert _challenge(httpx.get(again, headers=headers, timeout=10)) == "invalid_dpop_proof"
    assert not _reached(gateway, mark)


@pytest.mark.parametrize(
    ("proof", "error"),
    [
        pytest.param(
            lambda h, g, t: h.proof("GET", f"{g.url}/api/reports/2", t),
            "invalid_dpop_proof",
            id="other-path",
        ),
        pytest.param(
            lambda h, g, t: h.proof("GET", f"http://127.0.0.1:{free_port()}/api/reports/1", t),
            "invalid_dpop_proof",
            id="other-port",
        ),
        pytest.param(
            lambda h, g, t: h.proof("GET", "http://127.0.0.1/api/reports/1", t),
            "invalid_dpop_proof",
            id="port-dropped",
        ),
        pytest.param(
            lambda h, g, t: h.proof("GET", g.url.replace("http:", "https:") + "/api/reports/1", t),
            "invalid_dpop_proof",
            id="other-scheme",
        ),
        pytest.param(
            lambda h, g, t: h.proof("POST", f"{g.url}/api/reports/1", t),
            "invalid_dpop_proof",
            id="other-method",
        ),
        pytest.param(
            lambda h, g, t: h.proof("GET", f"{g.url}/api/reports/1", t + "x"),
            "invalid_dpop_proof",
            id="other-token",
        ),
        pytest.param(
            lambda h, g, t: Holder().proof("GET", f"{g.url}/api/reports/1", t),
            "invalid_token",
            id="other-key",
        ),
    ],
)
def test_proof_for_another_call_is_401(
    gateway: Gateway, dpop_client: dict[str, Any], proof: Any, error: str
) -> None:
    holder = Holder()
    token = _bound_token(gateway, dpop_client, holder)
    url, mark = _marked(gateway, "/api/reports/1")
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof(holder, gateway, token)}
    assert _challenge(httpx.get(url, headers=headers, timeout=10)) == error
    assert not _reached(gateway, mark)


@pytest.mark.parametrize(
    ("claimed", "method"),
    [
        pytest.param("http://api.example.test/api/reports/1", "GET", id="url"),
        pytest.param(None, "POST", id="method"),
    ],
)
def test_the_caller_cannot_name_the_call_for_the_decision_point(
    gateway: Gateway, dpop_client: dict[str, Any], claimed: str | None, method: str
) -> None:
    """nginx overwrites X-Original-*: a proof for a call the caller claims to make is not one
    for the call it makes."""
    holder = Holder()
    token = _bound_token(gateway, dpop_client, holder)
    url, mark = _marked(gateway, "/api/reports/1")
    public = claimed or f"{gateway.url}/api/reports/1"
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": holder.proof(method, public, token),
        "X-Original-URL": public,
        "X-Original-Method": method,
    }
    assert _challenge(httpx.get(url, headers=headers, timeout=10)) == "invalid_dpop_proof"
    assert not _reached(gateway, mark)


def test_a_host_the_gateway_does_not_serve_never_reaches_keyloft_or_the_upstream(
    gateway: Gateway, dpop_client: dict[str, Any]
) -> None:
    """$http_host is the caller's Host header: only the server block of the public name asks
    Keyloft, so a proof made for another host is not checked against that host."""
    holder = Holder()
    token = _bound_token(gateway, dpop_client, holder)
    port = gateway.url.rsplit(":", 1)[1]
    url, mark = _marked(gateway, "/api/reports/1")
    headers = {
        "Host": f"api.example.test:{port}",
        "Authorization": f"DPoP {token}",
        "DPoP": holder.proof("GET", f"http://api.example.test:{port}/api/reports/1", token),
    }
    assert httpx.get(url, headers=headers, timeout=10).status_code == 421
    assert not _reached(gateway, mark)


def test_two_proofs_are_401(gateway: Gateway, dpop_client: dict[str, Any]) -> None:
    holder = Holder()
    token = _bound_token(gateway, dpop_client, holder)
    url, mark = _marked(gateway, "/api/reports/1")
    public = f"{gateway.url}/api/reports/1"
    headers = [
        ("Authorization", f"DPoP {token}"),
        ("DPoP", holder.proof("GET", public, token)),
        ("DPoP", holder.proof("GET", public, token)),
    ]
    assert _challenge(httpx.get(url, headers=headers, timeout=10)) == "invalid_dpop_proof"
    assert not _reached(gateway, mark)


def test_bound_token_with_its_proof_still_needs_the_grant(
    gateway: Gateway, dpop_client: dict[str, Any]
) -> None:
    holder = Holder()
    token = _bound_token(gateway, dpop_client, holder)
    url, mark = _marked(gateway, "/api/reports/1")
    proof = holder.proof("POST", f"{gateway.url}/api/reports/1", token)
    answer = httpx.post(
        url, headers={"Authorization": f"DPoP {token}", "DPoP": proof}, json={}, timeout=10
    )
    assert answer.status_code == 403, answer.text  # a READ grant
    assert not _reached(gateway, mark)


def test_unbound_token_works_as_bearer_only(gateway: Gateway, dpop_client: dict[str, Any]) -> None:
    token = _oauth_token(gateway, dpop_client)
    url, mark = _marked(gateway, "/api/reports/1")
    proof = Holder().proof("GET", f"{gateway.url}/api/reports/1", token)
    as_dpop = httpx.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof}, timeout=10)
    assert _challenge(as_dpop) == "invalid_token"
    assert not _reached(gateway, mark)
    as_bearer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert as_bearer.status_code == 200, as_bearer.text
    assert as_bearer.json()["headers"]["x-keyloft-client-key"] == dpop_client["clientKey"]
    assert "dpop-nonce" not in as_bearer.headers


def test_the_servers_nonce_reaches_the_client_and_its_proof_then_passes(
    gateway: Gateway, nonce_gateway: Gateway, dpop_client: dict[str, Any]
) -> None:
    holder = Holder()
    token = _bound_token(gateway, dpop_client, holder)
    public = f"{nonce_gateway.url}/api/reports/1"
    url, mark = _marked(nonce_gateway, "/api/reports/1")
    headers = {"Authorization": f"DPoP {token}"}
    asked = httpx.get(
        url, headers=headers | {"DPoP": holder.proof("GET", public, token)}, timeout=10
    )
    assert _challenge(asked) == "use_dpop_nonce"
    nonce = asked.headers["dpop-nonce"]
    assert not _reached(nonce_gateway, mark)
    proof = holder.proof("GET", public, token, nonce=nonce)
    answer = httpx.get(url, headers=headers | {"DPoP": proof}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert _reached(nonce_gateway, mark)

"""A real nginx in front of a tiny upstream, asking a real ``keyloft serve`` through
``auth_request`` (GET /v3/oauth/check) whether each call may pass — the set-up of
docs/gateway.md.

Skipped with the reason when nginx is not installed, except under CI (CI=true), where it fails.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.nodes import Deployment, deployment, free_port
from tests.support.ci import unavailable

pytestmark = pytest.mark.slow

NGINX = "/usr/sbin/nginx"

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
        listen 127.0.0.1:{nginx_port};

        location / {{
            auth_request /_keyloft;
            auth_request_set $keyloft_client $upstream_http_x_keyloft_client_key;
            auth_request_set $keyloft_org $upstream_http_x_keyloft_org_id;
            auth_request_set $keyloft_till $upstream_http_x_keyloft_till_id;
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
            proxy_set_header X-CAP-API-OAUTH-TOKEN $http_x_cap_api_oauth_token;
            proxy_set_header Authorization $http_authorization;
        }}
    }}
}}
"""


class Echo(BaseHTTPRequestHandler):
    """The upstream: answers every call with the method, path and headers it received."""

    def _echo(self) -> None:
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
class Gateway:
    url: str
    keyloft: str
    admin: dict[str, str]
    till_id: int


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
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    binary = _nginx()
    tmp = tmp_path_factory.mktemp("gateway")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    upstream_thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    upstream_thread.start()
    try:
        with deployment(f"sqlite:///{tmp}/keyloft.db", None, tmp, nodes=1) as running:
            yield from _behind_nginx(binary, tmp, running, upstream)
    finally:
        upstream.shutdown()
        upstream.server_close()
        upstream_thread.join(5)


def _behind_nginx(
    binary: str, tmp: Path, running: Deployment, upstream: ThreadingHTTPServer
) -> Iterator[Gateway]:
    node = running.nodes[0]
    port = int(node.url.rsplit(":", 1)[1])
    nginx: subprocess.Popen[bytes] | None = None
    try:
        nginx_port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                tmp=tmp,
                # As root the workers would otherwise drop to "nobody", who may not read tmp.
                user="user root;" if os.geteuid() == 0 else "",
                keyloft_port=port,
                upstream_port=upstream.server_address[1],
                nginx_port=nginx_port,
            )
        )
        nginx_log = tmp / "nginx.out"
        with nginx_log.open("wb") as sink:
            nginx = subprocess.Popen(
                [
                    binary,
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
        user, password = running.admin
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        yield Gateway(
            f"http://127.0.0.1:{nginx_port}",
            node.url,
            {"Authorization": f"Basic {auth}"},
            running.till_id,
        )
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
    assert bad.headers["www-authenticate"].startswith("Bearer")


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

"""With ``--peer``: oidc-provider from the peers' harness, measured in the same run as the
harness measures it, for the ratio of each Keyloft figure to it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import httpx

from loadbench.processes import Server
from loadbench.wire import FORM_CT, active, basic, has_token
from loadbench.wrk import Options, Result, measure

PEER_SECRET = "bench-peer-secret"  # noqa: S105 (the peer's bench client, on loopback)


def peer_figures(wrk: str, peer_dir: Path, o: Options, workdir: Path) -> list[Result]:
    """oidc-provider from the peers' harness (after its ``setup``), measured in this run as
    the harness measures it: one node process, unpinned (it signs on its thread pool as well),
    client_secret_basic; RS256 JWT access tokens, and the introspection of an opaque token
    (it does not introspect JWTs)."""
    script = peer_dir / "peers" / "oidc-provider" / "server.mjs"
    node = shutil.which("node")
    if node is None or not script.exists() or not (peer_dir / "node_modules").exists():
        sys.exit(
            f"bench: --peer {peer_dir} needs node and the peers' harness after its setup "
            "(peers/oidc-provider/server.mjs and node_modules)"
        )
    env = {**os.environ, "CLIENT_SECRET": PEER_SECRET}
    server = Server.start("oidc-provider", [node, str(script)], env, peer_dir, port_option=None)
    auth = {**FORM_CT, "Authorization": basic("bench-basic", PEER_SECRET)}
    try:
        server.wait("/.well-known/openid-configuration")
        with httpx.Client(base_url=server.url, timeout=30) as http:
            minted = http.post(
                "/token",
                content="grant_type=client_credentials&resource=urn%3Abench%3Aopaque",
                headers=auth,
            )
            minted.raise_for_status()
            opaque = minted.json()["access_token"]
        token_body = "grant_type=client_credentials&scope=api%3Aread"  # noqa: S105
        return [
            measure(
                wrk,
                "oidcp_token",
                server,
                [("POST", "/token", token_body, auth)],
                has_token,
                o,
                workdir,
            ),
            measure(
                wrk,
                "oidcp_introspect",
                server,
                [("POST", "/token/introspection", f"token={opaque}", auth)],
                active,
                o,
                workdir,
            ),
        ]
    finally:
        server.stop()

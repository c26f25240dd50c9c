"""Real ``keyloft serve`` processes on PostgreSQL and Redis, for scale-out tests and benches."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def keyloft(env: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    """Run a ``keyloft`` command and return its JSON output."""
    done = subprocess.run(
        [sys.executable, "-m", "keyloft", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"keyloft {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout) if "--json" in args else done.stdout


@dataclass
class Node:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Deployment:
    """Nodes sharing one database and Redis, with an org, its admin and a Till."""

    nodes: list[Node]
    env: dict[str, str]
    org_id: int
    admin: tuple[str, str]
    till_id: int


def wait_ready(node: Node, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(f"node exited: {node.log.read_text()[-2000:]}")
        try:
            body = httpx.get(f"{node.url}/health/ready", timeout=1).json()
            if body.get("status") == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"node not ready within {within} s: {node.log.read_text()[-2000:]}")


@contextmanager
def deployment(
    database_url: str,
    redis_url: str | None,
    workdir: Path,
    *,
    nodes: int = 2,
    workers: int = 1,
    settings: dict[str, str] | None = None,
) -> Iterator[Deployment]:
    """Initialised store, an org with an admin and a Till, and ``nodes`` serving processes;
    ``settings``: more KEYLOFT_ variables for every process."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KEYLOFT_")},
        "KEYLOFT_DATABASE_URL": database_url,
        "KEYLOFT_SECRET_KEY": "scale-out-secret-" + secrets.token_urlsafe(32),
        "KEYLOFT_ISSUER": "http://keyloft.scale.test",
        "KEYLOFT_LOG_LEVEL": "WARNING",
    }
    if redis_url is not None:
        env["KEYLOFT_REDIS_URL"] = redis_url
    env.update(settings or {})
    keyloft(env, "init")
    org = keyloft(env, "org", "create", "--name", f"Scale {secrets.token_hex(3)}", "--json")
    password = secrets.token_urlsafe(18)
    admin = keyloft(
        env,
        "admin",
        "create",
        "--org",
        str(org["id"]),
        "--username",
        f"scale-admin-{secrets.token_hex(3)}",
        "--password-stdin",
        "--json",
        stdin=password + "\n",
    )
    till = keyloft(
        env,
        "till",
        "create",
        "--org",
        str(org["id"]),
        "--code",
        f"scale.till.{secrets.token_hex(3)}",
        "--json",
    )
    started: list[Node] = []
    try:
        for index in range(nodes):
            port = free_port()
            log = workdir / f"node{index}.log"
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "keyloft",
                        "serve",
                        "--port",
                        str(port),
                        "--workers",
                        str(workers),
                    ],
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(Node(f"http://127.0.0.1:{port}", process, log))
        for node in started:
            wait_ready(node, within=60)
        yield Deployment(started, env, org["id"], (admin["username"], password), till["id"])
    finally:
        stop(started)


def stop(nodes: Sequence[Node]) -> None:
    for node in nodes:
        if node.process.poll() is None:
            os.killpg(node.process.pid, signal.SIGTERM)
    for node in nodes:
        try:
            node.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait(5)

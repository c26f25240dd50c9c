"""The ceilings measured in the same run: raw signing and offline resource decisions per
second on one core (bench/signing.py, bench/resource_verify.py), and the hello-world app's
GET and POST on Keyloft's HTTP stack (bench/hello_app.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from loadbench import BENCH_DIR
from loadbench.processes import Server
from loadbench.wire import JSON_CT, hello_ok
from loadbench.wrk import Options, Result, measure


def signing_ceilings(seconds: float) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 (our own commands)
        [sys.executable, str(BENCH_DIR / "signing.py"), "--seconds", str(seconds), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {k: float(v) for k, v in json.loads(done.stdout).items()}


def resource_rate(seconds: float) -> float | None:
    done = subprocess.run(  # noqa: S603 (our own commands)
        [sys.executable, str(BENCH_DIR / "resource_verify.py"), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = re.search(r"repeated token:\s+([\d,]+)", done.stdout)
    return float(match.group(1).replace(",", "")) if match else None


def hello_ceilings(wrk: str, workers: int, o: Options, workdir: Path) -> list[Result]:
    server = Server.start(
        "hello",
        [sys.executable, str(BENCH_DIR / "hello_app.py"), "--workers", str(workers)],
        dict(os.environ),
        workdir,
    )
    server.expected_workers = workers
    try:
        server.wait("/hello")
        accept = {"Accept": "application/json"}
        return [
            measure(
                wrk, "hello_get", server, [("GET", "/hello", "", accept)], hello_ok, o, workdir
            ),
            measure(
                wrk,
                "hello_post",
                server,
                [("POST", "/hello", '{"name":"bench"}', JSON_CT)],
                hello_ok,
                o,
                workdir,
            ),
        ]
    finally:
        server.stop()

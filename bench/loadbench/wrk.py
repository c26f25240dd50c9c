"""Measuring one figure: its validity requests first, then wrk through wrk_figure.lua (a
warm-up, then the measured runs), read into medians of req/s, p50 and p99, and the server's
CPU time per answered request."""

from __future__ import annotations

import os
import statistics
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from loadbench import BENCH_DIR
from loadbench.processes import Server
from loadbench.profiles import start_profile
from loadbench.wire import Request

LUA = BENCH_DIR / "wrk_figure.lua"


@dataclass
class Options:
    duration: float
    runs: int
    warmup: float
    connections: int
    threads: int


@dataclass
class Result:
    name: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    runs: list[float] = field(default_factory=list)
    cpu_us: float = 0.0  # the server's CPU time per answered request, over all runs
    status: str = "ok"  # ok, INVALID (errors under load), FAILED (validity request)
    detail: str = ""
    profile: Path | None = None


def _wrk_once(
    wrk: str, url: str, requests_file: Path, seconds: float, o: Options
) -> dict[str, float]:
    command = [
        wrk,
        f"-t{o.threads}",
        f"-c{o.connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
    ]
    env = {**os.environ, "BENCH_REQUESTS": str(requests_file)}
    done = subprocess.run(  # noqa: S603 (our own commands)
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCHRESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {done.stdout[-500:]} {done.stderr[-500:]}")
    values = dict(item.split("=", 1) for item in line.split()[1:])
    return {key: float(value) for key, value in values.items()}


def _write_requests(path: Path, requests: Sequence[Request]) -> None:
    """One request a line, its fields tab-separated, as wrk_figure.lua reads them."""
    with path.open("w") as out:
        for method, target, body, headers in requests:
            fields = [method, target, body, *(f"{k}: {v}" for k, v in headers.items())]
            if any("\t" in f or "\n" in f for f in fields):
                raise ValueError("request fields may not hold tabs or newlines")
            out.write("\t".join(fields) + "\n")


def measure(
    wrk: str,
    name: str,
    server: Server,
    requests: Sequence[Request],
    expect: Callable[[httpx.Response], bool],
    o: Options,
    workdir: Path,
    profile_pid: int | None = None,
) -> Result:
    result = Result(name)
    base_url = server.url
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for method, path, body, headers in requests:
            answer = http.request(method, path, content=body or None, headers=headers)
            if not (200 <= answer.status_code < 300) or not expect(answer):
                result.status = "FAILED"
                result.detail = f"{method} {path} -> {answer.status_code} {answer.text[:200]}"
                return result
    requests_file = workdir / f"{name}.requests"
    _write_requests(requests_file, requests)
    if o.warmup > 0:
        _wrk_once(wrk, base_url, requests_file, o.warmup, o)
    spy = (
        start_profile(profile_pid, o.duration, workdir / f"{name}.profile") if profile_pid else None
    )
    cpu_before = server.cpu_seconds()
    runs = [_wrk_once(wrk, base_url, requests_file, o.duration, o) for _ in range(o.runs)]
    answered = sum(r["requests"] for r in runs)
    if answered:
        result.cpu_us = 1e6 * (server.cpu_seconds() - cpu_before) / answered
    if spy is not None:
        spy.wait(60)
        result.profile = workdir / f"{name}.profile"
    result.runs = [r["requests"] / r["seconds"] for r in runs]
    result.rps = statistics.median(result.runs)
    result.p50_ms = statistics.median(r["p50_us"] for r in runs) / 1000
    result.p99_ms = statistics.median(r["p99_us"] for r in runs) / 1000
    errors = sum(r["status_errors"] + r["socket_errors"] for r in runs)
    if errors:
        result.status = "INVALID"
        result.detail = f"{errors:.0f} errors under load"
    return result

"""Load benchmark of Keyloft's hot paths, each beside the same run's ceilings.

    .venv/bin/python bench/run.py                    # SQLite, 100 clients: what `make bench` runs
    .venv/bin/python bench/run.py --store postgres   # PostgreSQL + Redis
    .venv/bin/python bench/run.py --store postgres --clients 1000000 --compare-scale
    BENCH_DURATION=10 BENCH_RUNS=3 make bench          # longer runs

What it does, in a temporary directory (removed at the end, `--keep` keeps it):

1. Installs `wrk` if it is missing (`apt-get install -y wrk` as root; otherwise it says how).
2. Measures the ceilings while nothing else runs: raw signing per second on one core
   (bench/signing.py: RS256, ES256, EdDSA with `cryptography`, and Keyloft's key ring), and
   the offline decisions per second of `keyloft.resource` on one core (bench/resource_verify.py).
3. Starts the hello-world app (bench/hello_app.py: FastAPI + uvicorn with the server options of
   `keyloft serve`, same worker count) and measures GET and POST: the HTTP-stack ceiling.
4. Seeds a store through the real command line and API: `keyloft init`, an org, an admin, a
   Till, `--clients` clients (with `--store postgres`, in a database of its own, created and
   dropped here, and Redis on a private database number). Above 1,000 clients, the rest are
   bulk-inserted in SQL (PostgreSQL only; bench/scale_seed.py).
5. Starts `keyloft serve --workers W`, waits for /health/ready, and measures each figure.
   Every figure is first requested once per request variant; each of those answers must be
   2xx with the expected JSON, else the figure is FAILED. Then wrk runs WARMUP s (discarded),
   then RUNS runs of DURATION s; the line shows the medians of req/s, p50 and p99, and every
   run's req/s. A status of 400 or more or a socket error during a run marks it INVALID.
6. Prints each worker's resident memory (VmRSS) before and after the load.

With `--peer DIR` (the peers' harness folder after its `setup`) oidc-provider is measured
too, after the ceilings and before Keyloft: its RS256 JWT tokens and its introspection of an
opaque token (one node process, unpinned, client_secret_basic), and each Keyloft line shows
its ratio to the matching figure beside the issue's goal.

With `--hold` it stops after step 4: it serves the seeded store with `--workers W` until
interrupted and prints the `OURS_*` settings with which the peers' harness (its `ours`
target) measures Keyloft beside oidc-provider in one run; docs/performance.md shows how.

Figures (requests go round robin over up to `--spread` clients, and their tokens):

    token_v3         POST /v3/oauth/token/generate, JSON {"key","secret"}
    token_oauth2     POST /oauth2/token, client_secret_basic, grant_type=client_credentials
    check            POST /v3/oauth/check, JSON {"token","method","path"} (an allowed call)
    check_get        GET /v3/oauth/check, the forward-auth form (Bearer, X-Original-*)
    list_token       GET /v3/integrations/clients with X-CAP-API-OAUTH-TOKEN
    list_basic       GET /v3/integrations/clients with the admin's Basic credentials
    get_token        GET /v3/integrations/clients/{key} with X-CAP-API-OAUTH-TOKEN
    introspect       POST /oauth2/introspect, client_secret_basic, token=<its own token>

Ratios: token figures as a share of twice the one-core raw RS256 signing rate (two workers,
two cores); the others as a share of the hello-world figure of the same method; p99/p50.

Methodology: wrk is a closed loop (`-c` requests always in flight, default 16, one thread),
so at saturation p50 is about connections / throughput: latency under saturation, not service
time. The load generator shares the machine's cores with the server, as the ceilings' runs do;
compare ratios within one run rather than absolute figures across runs or machines.

Knobs: --duration/BENCH_DURATION (5 s), --runs/BENCH_RUNS (3), --warmup/BENCH_WARMUP (1 s),
--connections/BENCH_CONNECTIONS (16), --threads/BENCH_THREADS (1), --workers/BENCH_WORKERS (2),
--only FIGURE[,FIGURE], --profile FIGURE[,FIGURE] (py-spy samples one worker during the
first measured run and the top frames are printed), KEYLOFT_TEST_POSTGRES_URL (PostgreSQL
server, default local), BENCH_REDIS_URL (Redis server, default redis://127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.conftest import DEFAULT_POSTGRES, _postgres_admin  # noqa: E402
from tests.integration.nodes import keyloft  # noqa: E402

LUA = HERE / "wrk_figure.lua"
DEFAULT_REDIS = "redis://127.0.0.1:6379"
BULK_ABOVE = 1000
SCOPES = [
    {"entityId": 2, "permission": "READWRITE", "resources": []},
    {"entityId": 1, "permission": "READ", "resources": []},
]
CHECKED_CALL = {"method": "GET", "path": "/v3/targetGroups/7"}

Request = tuple[str, str, str, dict[str, str]]  # method, path, body, headers


def _env_number(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A server process leading its own process group, its workers inside it."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls,
        name: str,
        command: Sequence[str],
        env: dict[str, str],
        workdir: Path,
        *,
        port_option: str | None = "--port",
    ) -> Server:
        """Started on a free port, given as ``port_option`` (or, when None, as ``PORT`` in the
        environment)."""
        port = free_port()
        log = workdir / f"{name}.log"
        if port_option is None:
            env = {**env, "PORT": str(port)}
        with log.open("wb") as sink:
            process = subprocess.Popen(  # noqa: S603 (our own commands)
                [*command, *((port_option, str(port)) if port_option else ())],
                env=env,
                cwd=workdir,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, f"http://127.0.0.1:{port}", process, log)

    def wait(self, path: str, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                answered = httpx.get(self.url + path, timeout=1).status_code == 200
                # Every worker must be up, not only the first to answer.
                if answered and len(self.workers()) >= self.expected_workers:
                    return
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} not ready within {within} s: {self.log.read_text()[-2000:]}"
        )

    expected_workers: int = 1

    def workers(self) -> list[int]:
        """The worker processes: the children of the server process that serve requests."""
        children: list[int] = []
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.process.pid}/task").iterdir():
                text = (task / "children").read_text().split()
                children.extend(int(pid) for pid in text)
        serving = []
        for pid in children:
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"resource_tracker" not in cmdline:
                    serving.append(pid)
        return serving or [self.process.pid]

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the server and its workers have used so far."""
        used = 0
        for pid in {self.process.pid, *self.workers()}:
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                used += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return used / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> dict[int, float]:
        found = {}
        for pid in self.workers():
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{pid}/status").read_text()
                match = re.search(r"VmRSS:\s+(\d+) kB", status)
                if match:
                    found[pid] = int(match.group(1)) / 1024
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install -y wrk)", file=sys.stderr)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        install = ["apt-get", "install", "-y", "wrk"]
        if subprocess.run(install, check=False, **quiet).returncode:  # noqa: S603
            subprocess.run(["apt-get", "update"], check=False, **quiet)  # noqa: S607
            subprocess.run(install, check=False, **quiet)  # noqa: S603
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit(
        "bench: wrk is not installed. Install it (Debian/Ubuntu: `sudo apt-get install wrk`, "
        "macOS: `brew install wrk`) and run again."
    )


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# ----------------------------------------------------------------------------- the store


@dataclass
class Store:
    """Where the deployment keeps its state, and how to remove it afterwards."""

    env: dict[str, str]
    postgres_url: str | None = None
    cleanup: Callable[[], None] = lambda: None


@contextlib.contextmanager
def open_store(
    kind: str, workdir: Path, redis_url: str | None, algorithm: str = "RS256"
) -> Iterator[Store]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYLOFT_")}
    env.update(
        {
            "KEYLOFT_SECRET_KEY": "bench-server-secret-" + secrets.token_urlsafe(32),
            "KEYLOFT_ISSUER": "http://keyloft.bench",
            "KEYLOFT_LOG_LEVEL": "WARNING",
            "KEYLOFT_SIGNING_ALGORITHM": algorithm,
        }
    )
    if redis_url:
        env["KEYLOFT_REDIS_URL"] = redis_url
    if kind == "sqlite":
        env["KEYLOFT_DATABASE_URL"] = f"sqlite:///{workdir / 'keyloft.db'}"
        yield Store(env)
        return
    from sqlalchemy.engine import make_url

    server = os.environ.get("KEYLOFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    name = f"keyloft_bench_{secrets.token_hex(4)}"
    asyncio.run(_postgres_admin(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    env["KEYLOFT_DATABASE_URL"] = url
    try:
        yield Store(env, postgres_url=url)
    finally:
        asyncio.run(_postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Seed:
    org_id: int
    admin: tuple[str, str]
    till_id: int
    clients: list[tuple[str, str]] = field(default_factory=list)


def seed_org(env: dict[str, str], clients: int) -> Seed:
    keyloft(env, "init")
    org = keyloft(
        env,
        "org",
        "create",
        "--name",
        f"Bench {secrets.token_hex(3)}",
        "--max-clients",
        str(max(clients, 15)),
        "--json",
    )
    password = secrets.token_urlsafe(18)
    admin = keyloft(
        env,
        "admin",
        "create",
        "--org",
        str(org["id"]),
        "--username",
        f"bench-admin-{secrets.token_hex(3)}",
        "--password-stdin",
        "--json",
        stdin=password + "\n",
    )
    till = keyloft(
        env, "till", "create", "--org", str(org["id"]), "--code", "bench.till.1", "--json"
    )
    return Seed(org["id"], (admin["username"], password), till["id"])


async def create_clients(url: str, seed: Seed, count: int) -> list[tuple[str, str]]:
    """``count`` clients through the API, as an admin would create them."""
    headers = {"Authorization": basic(*seed.admin)}
    limit = asyncio.Semaphore(4)

    async def one(http: httpx.AsyncClient, n: int) -> tuple[str, str]:
        body = {
            "name": f"bench-client-{n}",
            "description": "load benchmark",
            "expirationTokenTime": 3600,
            "defaultTillId": seed.till_id,
            "scopes": SCOPES,
        }
        async with limit:
            answer = await http.post("/v3/integrations/clients", json=body, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"creating a client failed: {answer.status_code} {answer.text}")
        data = answer.json()["data"]
        return data["clientKey"], data["clientSecret"]

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        return list(await asyncio.gather(*(one(http, n) for n in range(count))))


# ----------------------------------------------------------------------------- measuring


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


# ----------------------------------------------------------------------------- profiles


def _start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy samples one worker during the first measured run (collapsed stacks)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("bench: --profile needs py-spy (pip install py-spy)", file=sys.stderr)
        return None
    command = [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    command += ["--format", "raw", "--nonblocking", "--output", str(out)]
    return subprocess.Popen(  # noqa: S603 (our own command)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _frame(text: str) -> tuple[str, bool]:
    """``function (path/to/module.py:12)`` -> (``function (module.py)``, whether Keyloft's)."""
    function, _, where = text.partition(" (")
    path = where.rsplit(":", 1)[0]
    module = path.rsplit("/", 1)[-1]
    # py-spy names files relative to the import path where it can: keyloft/services/x.py
    ours = path.startswith("keyloft/") or "/keyloft/" in path
    return (f"{function} ({module})" if module else function), ours


# Leaves where a thread waits: an idle pool thread, or the event loop inside uvloop (C code:
# waiting for sockets, or socket I/O py-spy cannot see into).
IDLE_LEAVES = ("Condition.wait (threading.py)", "Runner.run (runners.py)")


def print_profile(path: Path, top: int = 12) -> None:
    """Where the sampled worker spent its busy samples: own time per frame, and the time
    spent in and below each of Keyloft's own functions."""
    own: dict[str, int] = {}
    below: dict[str, int] = {}
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        leaf = frames[-1][0]
        if leaf in IDLE_LEAVES:
            idle += count
            continue
        own[leaf] = own.get(leaf, 0) + count
        for frame in {name for name, ours in frames if ours}:
            below[frame] = below.get(frame, 0) + count
    busy = total - idle
    if not busy:
        print(f"  (no busy samples in {path.name})")
        return
    print(
        f"  profile {path.stem}: {total} samples of one worker's threads, {idle} waiting "
        f"(idle pool threads, event loop in C); of the {busy} busy ones, own time:"
    )
    for frame, count in sorted(own.items(), key=lambda x: -x[1])[:top]:
        print(f"    {100 * count / busy:5.1f} %  {frame}")
    print("  Keyloft's functions, inclusive (the function and what it called):")
    for frame, count in sorted(below.items(), key=lambda x: -x[1])[: 2 * top]:
        print(f"    {100 * count / busy:5.1f} %  {frame}")


# ----------------------------------------------------------------------------- measuring


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
    with requests_file.open("w") as out:
        for method, path, body, headers in requests:
            fields = [method, path, body, *(f"{k}: {v}" for k, v in headers.items())]
            if any("\t" in f or "\n" in f for f in fields):
                raise ValueError("request fields may not hold tabs or newlines")
            out.write("\t".join(fields) + "\n")
    if o.warmup > 0:
        _wrk_once(wrk, base_url, requests_file, o.warmup, o)
    spy = (
        _start_profile(profile_pid, o.duration, workdir / f"{name}.profile")
        if profile_pid
        else None
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


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def has_token(answer: httpx.Response) -> bool:
    body = _json(answer) or {}
    data = body.get("data") or {}
    return bool(data.get("accessToken") or body.get("access_token"))


def allowed(answer: httpx.Response) -> bool:
    return ((_json(answer) or {}).get("data") or {}).get("allowed") is True


def active(answer: httpx.Response) -> bool:
    return (_json(answer) or {}).get("active") is True


def has_data(answer: httpx.Response) -> bool:
    return bool((_json(answer) or {}).get("data"))


def hello_ok(answer: httpx.Response) -> bool:
    return "hello" in (_json(answer) or {})


# ----------------------------------------------------------------------------- figures


@dataclass
class Driven:
    """The clients a run drives, each with a v3 token and an OAuth token."""

    clients: list[tuple[str, str]]
    v3_tokens: list[str]
    oauth_tokens: list[str]


def mint_tokens(url: str, clients: Sequence[tuple[str, str]]) -> Driven:
    v3, oauth = [], []
    with httpx.Client(base_url=url, timeout=30) as http:
        for key, secret in clients:
            answer = http.post("/v3/oauth/token/generate", json={"key": key, "secret": secret})
            answer.raise_for_status()
            v3.append(answer.json()["data"]["accessToken"])
            answer = http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": basic(key, secret)},
            )
            answer.raise_for_status()
            oauth.append(answer.json()["access_token"])
    return Driven(list(clients), v3, oauth)


JSON_CT = {"Content-Type": "application/json", "Accept": "application/json"}
FORM_CT = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def keyloft_figures(d: Driven, seed: Seed) -> dict[str, tuple[list[Request], Callable[..., bool]]]:
    pairs = list(zip(d.clients, d.v3_tokens, d.oauth_tokens, strict=True))
    return {
        "token_v3": (
            [
                ("POST", "/v3/oauth/token/generate", json.dumps({"key": k, "secret": s}), JSON_CT)
                for (k, s), _, _ in pairs
            ],
            has_token,
        ),
        "token_oauth2": (
            [
                (
                    "POST",
                    "/oauth2/token",
                    "grant_type=client_credentials",
                    {**FORM_CT, "Authorization": basic(k, s)},
                )
                for (k, s), _, _ in pairs
            ],
            has_token,
        ),
        "check": (
            [
                ("POST", "/v3/oauth/check", json.dumps({"token": t, **CHECKED_CALL}), JSON_CT)
                for _, t, _ in pairs
            ],
            allowed,
        ),
        "check_get": (
            [
                (
                    "GET",
                    "/v3/oauth/check",
                    "",
                    {
                        "Authorization": f"Bearer {t}",
                        "X-Original-Method": CHECKED_CALL["method"],
                        "X-Original-URI": CHECKED_CALL["path"],
                    },
                )
                for _, t, _ in pairs
            ],
            lambda answer: answer.status_code == 200,
        ),
        "list_token": (
            [
                ("GET", "/v3/integrations/clients", "", {"X-CAP-API-OAUTH-TOKEN": t})
                for _, t, _ in pairs
            ],
            has_data,
        ),
        "list_basic": (
            [("GET", "/v3/integrations/clients", "", {"Authorization": basic(*seed.admin)})],
            has_data,
        ),
        "get_token": (
            [
                ("GET", f"/v3/integrations/clients/{k}", "", {"X-CAP-API-OAUTH-TOKEN": t})
                for (k, _), t, _ in pairs
            ],
            has_data,
        ),
        "introspect": (
            [
                (
                    "POST",
                    "/oauth2/introspect",
                    f"token={o}",
                    {**FORM_CT, "Authorization": basic(k, s)},
                )
                for (k, s), _, o in pairs
            ],
            active,
        ),
    }


# Which ceiling each figure is read against, and the goal for that ratio (percent).
# The token figures are read against two cores' raw signing in the deployment's algorithm
# ("signx2"); the 55 % goal is the for RS256 (ES256/EdDSA goals are against a peer).
CEILING_OF: dict[str, tuple[str, int | None]] = {
    "token_v3": ("signx2", 55),
    "token_oauth2": ("signx2", 55),
    "check": ("hello_post", 80),
    "check_get": ("hello_get", 80),
    "list_token": ("hello_get", 50),
    "list_basic": ("hello_get", 50),
    "get_token": ("hello_get", 80),
    "introspect": ("hello_post", 80),
}


# With --peer: the oidc-provider figure each Keyloft figure is compared with, and the issue's
# goal for the ratio (RS256 tokens; ES256 and EdDSA tokens are held to 4 times its RS256 figure).
PEER_OF: dict[str, tuple[str, float | None]] = {
    "token_v3": ("oidcp_token", 1.6),
    "token_oauth2": ("oidcp_token", 1.6),
    "check": ("oidcp_introspect", 2.5),
    "check_get": ("oidcp_introspect", 2.5),
    "get_token": ("oidcp_introspect", 2.5),
    "introspect": ("oidcp_introspect", None),
}
PEER_SECRET = "bench-peer-secret"  # noqa: S105 (the peer's bench client, on loopback)


def print_header(title: str) -> None:
    print(f"\n== {title}")
    print(
        f"{'figure':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} {'cpu µs':>7}  "
        f"{'ratio (goal), and by CPU time per request':<44} runs req/s"
    )


def remember(ceilings: dict[str, float], result: Result) -> None:
    """Keep a ceiling's or a peer's throughput and CPU cost for the ratios of later lines."""
    if result.status == "ok":
        ceilings[result.name] = result.rps
        ceilings[result.name + ":cpu"] = result.cpu_us


def _ratio(result: Result, ceilings: dict[str, float], other: str, percent: bool) -> str:
    """``result`` against ``other`` by throughput, and by the CPU each request cost the server
    (steadier on a shared machine, where another tenant's load moves throughput)."""
    by_rate = result.rps / ceilings[other]
    cost = ceilings.get(other + ":cpu")
    by_cpu = cost / result.cpu_us if cost and result.cpu_us else None
    if percent:
        return f"{100 * by_rate:5.1f} % of {other}" + (
            f" [cpu {100 * by_cpu:.0f} %]" if by_cpu else ""
        )
    return f"{by_rate:.2f}x {other}" + (f" [cpu {by_cpu:.2f}x]" if by_cpu else "")


def print_line(result: Result, ceilings: dict[str, float]) -> None:
    if result.status == "FAILED":
        print(f"{result.name:<16} FAILED: {result.detail}")
        return
    tail = f"{result.p99_ms / result.p50_ms:>8.2f}" if result.p50_ms else f"{'-':>8}"
    parts = []
    if result.name in CEILING_OF:
        ceiling, goal = CEILING_OF[result.name]
        if ceilings.get(ceiling):
            target = f" (≥ {goal} %)" if goal is not None else ""
            parts.append(_ratio(result, ceilings, ceiling, percent=True) + target)
    if result.name in PEER_OF:
        peer, goal = PEER_OF[result.name]
        if ceilings.get(peer):
            target = f" (≥ {goal:g})" if goal is not None else ""
            parts.append(_ratio(result, ceilings, peer, percent=False) + target)
    ratio = "; ".join(parts)
    runs = "/".join(f"{r:.0f}" for r in result.runs)
    flag = "" if result.status == "ok" else f"  {result.status}: {result.detail}"
    print(
        f"{result.name:<16} {result.rps:>9.1f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
        f"{tail} {result.cpu_us:>7.0f}  {ratio:<44} {runs}{flag}"
    )


# ----------------------------------------------------------------------------- parts of a run


def signing_ceilings(seconds: float) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 (our own commands)
        [sys.executable, str(HERE / "signing.py"), "--seconds", str(seconds), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {k: float(v) for k, v in json.loads(done.stdout).items()}


def resource_rate(seconds: float) -> float | None:
    done = subprocess.run(  # noqa: S603 (our own commands)
        [sys.executable, str(HERE / "resource_verify.py"), "--seconds", str(seconds)],
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
        [sys.executable, str(HERE / "hello_app.py"), "--workers", str(workers)],
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


def start_keyloft(label: str, env: dict[str, str], workers: int, workdir: Path) -> Server:
    server = Server.start(
        label,
        [sys.executable, "-m", "keyloft", "serve", "--workers", str(workers)],
        env,
        workdir,
    )
    server.expected_workers = workers
    return server


def run_keyloft(
    wrk: str,
    env: dict[str, str],
    seed: Seed,
    driven_clients: Sequence[tuple[str, str]],
    workers: int,
    only: set[str] | None,
    o: Options,
    workdir: Path,
    label: str,
    profile: set[str] | None = None,
) -> tuple[list[Result], dict[int, float], dict[int, float]]:
    server = start_keyloft(f"keyloft-{label}", env, workers, workdir)
    try:
        server.wait("/health/ready")
        driven = mint_tokens(server.url, driven_clients)
        rss_before = server.rss_mib()
        results = []
        for name, (requests, expect) in keyloft_figures(driven, seed).items():
            if only and name not in only:
                continue
            pid = server.workers()[0] if profile and name in profile else None
            results.append(measure(wrk, name, server, requests, expect, o, workdir, pid))
        return results, rss_before, server.rss_mib()
    finally:
        server.stop()


def hold(env: dict[str, str], seed: Seed, workers: int, workdir: Path) -> None:
    """Serve the seeded store until interrupted, for a load generator run from elsewhere."""
    server = start_keyloft("keyloft-held", env, workers, workdir)
    try:
        server.wait("/health/ready")
        key, secret = seed.clients[0]
        print(f"\nserving {server.url} with {workers} workers; for the peers' harness:")
        # The endpoints are given: discovery names them under the seeded store's issuer.
        print(
            f"  OURS_URL={server.url} OURS_TOKEN_EP={server.url}/oauth2/token "
            f"OURS_INTROSPECT_EP={server.url}/oauth2/introspect "
            f"OURS_CLIENT_ID={key} OURS_CLIENT_SECRET={secret}"
        )
        print("interrupt (Ctrl-C or SIGTERM) to stop", flush=True)
        stop = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        finally:
            signal.signal(signal.SIGTERM, stop)
    finally:
        server.stop()


def print_rss(label: str, before: dict[int, float], after: dict[int, float]) -> None:
    cells = ", ".join(
        f"pid {pid}: {before.get(pid, 0):.0f} -> {mib:.0f} MiB"
        for pid, mib in sorted(after.items())
    )
    print(f"worker RSS ({label}, before -> after the load): {cells}")


# ----------------------------------------------------------------------------- main


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--clients", type=int, default=100, help="clients in the store")
    parser.add_argument(
        "--algorithm",
        choices=("RS256", "ES256", "EdDSA"),
        default="RS256",
        help="the deployment's signing algorithm (KEYLOFT_SIGNING_ALGORITHM)",
    )
    parser.add_argument("--spread", type=int, default=50, help="clients the figures drive")
    parser.add_argument(
        "--compare-scale",
        action="store_true",
        help="PostgreSQL: measure with 100 clients, bulk-add up to --clients, measure again",
    )
    parser.add_argument("--duration", type=float, default=_env_number("BENCH_DURATION", 5))
    parser.add_argument("--runs", type=int, default=int(_env_number("BENCH_RUNS", 3)))
    parser.add_argument("--warmup", type=float, default=_env_number("BENCH_WARMUP", 1))
    parser.add_argument(
        "--connections", type=int, default=int(_env_number("BENCH_CONNECTIONS", 16))
    )
    parser.add_argument("--threads", type=int, default=int(_env_number("BENCH_THREADS", 1)))
    parser.add_argument("--workers", type=int, default=int(_env_number("BENCH_WORKERS", 2)))
    parser.add_argument("--only", default="", help="comma-separated figure names")
    parser.add_argument("--no-ceilings", action="store_true", help="skip the ceilings")
    parser.add_argument(
        "--profile",
        default="",
        help="comma-separated figures to sample with py-spy (one worker, first run)",
    )
    parser.add_argument(
        "--redis",
        default=None,
        help="Redis server (default: BENCH_REDIS_URL or local with --store postgres, "
        "none with SQLite); 'none' turns it off",
    )
    parser.add_argument(
        "--peer",
        type=Path,
        default=os.environ.get("BENCH_PEER_DIR") or None,
        help="the peers' harness folder, after its setup: measure oidc-provider in this run "
        "and print each figure's ratio to it (BENCH_PEER_DIR)",
    )
    parser.add_argument("--seed-timeout", type=float, default=900, help="bulk seeding, s")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument(
        "--hold",
        action="store_true",
        help="seed, start the server and keep it up (printing what the peers' harness needs) "
        "until interrupted, instead of measuring",
    )
    options = parser.parse_args()
    if (options.clients > BULK_ABOVE or options.compare_scale) and options.store != "postgres":
        parser.error("more than 1,000 clients and --compare-scale need --store postgres")
    return options


def redis_url(options: argparse.Namespace) -> str | None:
    chosen = options.redis
    if chosen is None:
        chosen = os.environ.get("BENCH_REDIS_URL") or (
            DEFAULT_REDIS if options.store == "postgres" else "none"
        )
    if chosen == "none":
        return None
    # A database number of this run's own for the failure counters. (Pub/sub channels are
    # shared by every database number of a Redis server.)
    base = re.sub(r"/\d*$", "", chosen)
    return f"{base}/{random.randint(8, 15)}"  # noqa: S311 (not a secret)


def main() -> None:
    options = parse()
    wrk = ensure_wrk()
    o = Options(
        options.duration, options.runs, options.warmup, options.connections, options.threads
    )
    only = {name.strip() for name in options.only.split(",") if name.strip()} or None
    profile = {name.strip() for name in options.profile.split(",") if name.strip()} or None
    started = time.monotonic()
    redis = redis_url(options)
    print(
        f"Keyloft bench: store={options.store}{' + redis' if redis else ''} "
        f"clients={options.clients} alg={options.algorithm} workers={options.workers} "
        f"wrk -t{o.threads} -c{o.connections} "
        f"{o.runs}x{o.duration:g}s (warm-up {o.warmup:g}s) cores={os.cpu_count()} "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    ceilings: dict[str, float] = {}
    if options.algorithm != "RS256":
        for name in ("token_v3", "token_oauth2"):
            PEER_OF[name] = ("oidcp_token", 4.0)
    workdir = Path(tempfile.mkdtemp(prefix="keyloft-bench-"))
    try:
        if not options.no_ceilings:
            signing = signing_ceilings(2.0)
            ceilings.update(signing)
            ceilings["signx2"] = 2 * signing[options.algorithm.lower()]
            # By CPU: the share of a token's cost that is the bare signature.
            ceilings["signx2:cpu"] = 1e6 / signing[options.algorithm.lower()]
            if options.algorithm != "RS256":
                for name in ("token_v3", "token_oauth2"):
                    CEILING_OF[name] = ("signx2", None)
            rate = resource_rate(3.0)
            print_header("ceilings (same run)")
            for name in ("rs256", "es256", "eddsa", "keyring_rs256"):
                rate_line = f"{signing[name]:>9.0f}  signatures/s, one core, in process"
                print(f"{name + ' sign':<16} {rate_line}")
            if rate is not None:
                share = f"{100 * rate / 10_000:.0f} % of 10,000"
                what = f"decisions/s, one core, repeated token ({share})"
                print(f"{'resource_verify':<16} {rate:>9.0f}  {what}")
            for result in hello_ceilings(wrk, options.workers, o, workdir):
                remember(ceilings, result)
                print_line(result, ceilings)
        if options.peer is not None:
            print_header("oidc-provider (same run)")
            for result in peer_figures(wrk, options.peer.resolve(), o, workdir):
                remember(ceilings, result)
                print_line(result, ceilings)
        with open_store(options.store, workdir, redis, options.algorithm) as store:
            first = 100 if options.compare_scale else min(options.clients, BULK_ABOVE)
            seed = seed_org(store.env, first)
            label = f"{options.store}, {first} clients"
            server = Server.start(
                "seeding", [sys.executable, "-m", "keyloft", "serve"], store.env, workdir
            )
            try:
                server.wait("/health/ready")
                seed.clients = asyncio.run(create_clients(server.url, seed, first))
            finally:
                server.stop()
            driven = seed.clients[: options.spread]
            if options.hold:
                hold(store.env, seed, options.workers, workdir)
                return
            results: list[Result] = []
            if options.compare_scale or options.clients <= BULK_ABOVE:
                results, before, after = run_keyloft(
                    wrk,
                    store.env,
                    seed,
                    driven,
                    options.workers,
                    only,
                    o,
                    workdir,
                    "small",
                    profile,
                )
                print_header(f"keyloft ({label})")
                for result in results:
                    print_line(result, ceilings)
                print_rss(label, before, after)
                for result in results:
                    if result.profile is not None and result.profile.exists():
                        print_profile(result.profile)
            if options.clients > BULK_ABOVE:
                from scale_seed import bulk_seed

                assert store.postgres_url is not None
                took, load_keys = asyncio.run(
                    bulk_seed(
                        store.postgres_url,
                        total=options.clients,
                        template_key=seed.clients[0][0],
                        time_box=options.seed_timeout,
                        sample=options.spread,
                    )
                )
                print(f"\nbulk-seeded up to {options.clients:,} clients in {took:.0f} s")
                secret = seed.clients[0][1]  # the load clients share the template's hash
                half = max(1, options.spread // 2)
                scaled_driven = [*driven[:half], *((k, secret) for k in load_keys[:half])]
                label = f"{options.store}, {options.clients:,} clients"
                scaled, before, after = run_keyloft(
                    wrk,
                    store.env,
                    seed,
                    scaled_driven,
                    options.workers,
                    only,
                    o,
                    workdir,
                    "scale",
                    profile,
                )
                print_header(f"keyloft ({label})")
                for result in scaled:
                    print_line(result, ceilings)
                print_rss(label, before, after)
                for result in scaled:
                    if result.profile is not None and result.profile.exists():
                        print_profile(result.profile)
                if results:
                    print(
                        f"\n== scale: {options.clients:,} clients / 100 clients (goal: ≥ 0.90), "
                        "by throughput [and by CPU time per request]"
                    )
                    small = {r.name: r for r in results}
                    for result in scaled:
                        base = small.get(result.name)
                        if base and base.rps and result.status == base.status == "ok":
                            by_cpu = base.cpu_us / result.cpu_us if result.cpu_us else 0.0
                            print(
                                f"{result.name:<16} {result.rps / base.rps:>6.2f}   "
                                f"[cpu {by_cpu:.2f}]   "
                                f"p99 {result.p99_ms:.2f} vs {base.p99_ms:.2f} ms"
                            )
    finally:
        if options.keep:
            print(f"working directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nbench took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()

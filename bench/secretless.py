"""CPU per token request of secretless clients (RFC 7523) beside the secret path, in process.

    .venv/bin/python bench/secretless.py                  # 5 rounds x 500 requests per variant
    .venv/bin/python bench/secretless.py --instructions   # and instructions per request (callgrind)

One process seeds two SQLite deployments through the real command line and API (`keyloft
init`, an org, an admin, a Till; then the clients through `POST /v3/integrations/clients`):
one without Redis, where a private_key_jwt assertion is made single-use by one committed INSERT
in the store, and one with Redis (`--redis`, default BENCH_REDIS_URL or the local server, on a
database number of its own), where it is a `SET NX`; without a reachable Redis that deployment
is skipped with a note. Each deployment is a real runtime (`build_runtime`) and app
(`create_app`) called directly as an ASGI application, as uvicorn would call it: no HTTP
server and no HTTP client in the measured work. The variants:

    a       secret client, POST /oauth2/token, client_secret_basic (the baseline)
    b       secret client, POST /v3/oauth/token/generate, JSON {"key", "secret"}
    c       private_key_jwt, an ES256 assertion at /oauth2/token, a fresh one per request
    d       private_key_jwt, the client's keys at its jwksUri (held after the first fetch)
    e       federated: one RS256 GitHub-Actions-shaped token of a trusted issuer, reused
    a+drop  (no Redis only) a, with the node's client cache dropped before each request, as
            the node does when it notices another connection's commit

Assertions are signed before the timed batch that sends them, so the client's signing is not
counted. The jwksUri and the issuer (discovery and JWKS, `Cache-Control: max-age=3600`) are
served by a small HTTP server in a process of its own, which counts the requests it receives.

After a warm-up of every variant (where the remote keys are fetched once per deployment), the
variants are alternated in rounds (a, b, c, d, e, a+drop, then the Redis deployment's, again).
Each batch starts with one untimed request of its own and a 10 ms pause, so that it finds the
node as its own kind of request leaves it, not as the previous variant did; then it is timed
with `time.process_time` (the whole process: the event loop and aiosqlite's threads),
`getrusage` (the kernel's share, voluntary context switches) and `time.perf_counter`. The table
shows per variant the median over rounds of CPU µs per request, its ratio to a of the same
deployment in the same run, the kernel's µs, the wall µs, SQL statements per request (counted
in a pass of 100 requests after the timed rounds), the client-cache drops the SQLite node's
look at the file made per request, context switches per request, and every round's CPU µs.
Then the parts measured alone: the signature checks, bare (`cryptography`) and as Keyloft makes
them (PyJWT), one PyJWT parse of each token, and each single-use check.

It exits non-zero if any timed answer was not 200, or if the key server received any request
during the timed rounds: once held, remote keys must never be on the hot path.

With `--instructions` (valgrind needed) the same script then runs under `valgrind
--tool=callgrind` with fewer requests, and callgrind counts are dumped at each timed batch's
start and end (`--dump-before=getpgrp`: the script calls `os.getpgrp()` there and nowhere
else), so each variant's instructions per request come from its own batches, without set-up.
Under valgrind a request takes tens of milliseconds, so anything paced by the clock (the SQLite
node's look for other connections' commits, at most once a millisecond) happens once per
request there.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import logging
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from resource import RUSAGE_SELF, getrusage
from typing import Any
from urllib.parse import quote_plus, urlencode

HERE = Path(__file__).resolve().parent
# The bench's seeding (loadbench) and the test helper it runs the command line with (tests.*).
sys.path[:0] = [str(HERE), str(HERE.parent)]

import callgrind  # noqa: E402
import httpx  # noqa: E402
import jwt  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402
from jwt.algorithms import ECAlgorithm, RSAAlgorithm  # noqa: E402
from loadbench.seeding import SCOPES, Seed, open_store, seed_org  # noqa: E402
from loadbench.wire import basic  # noqa: E402
from sqlalchemy import event  # noqa: E402

from keyloft.config import Settings  # noqa: E402
from keyloft.domain.client_keys import check_jwks  # noqa: E402
from keyloft.runtime import Runtime, build_runtime  # noqa: E402
from keyloft.services.client_auth import assertion as assertions  # noqa: E402
from keyloft.services.client_auth.request import ClientAuthRequest  # noqa: E402
from keyloft.web.app import create_app  # noqa: E402

ISSUER = "http://keyloft.bench"  # what loadbench.seeding.open_store configures
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GHA_REPOSITORY = "acme/payments"
GHA_REF = "refs/heads/main"
DEFAULT_REDIS = "redis://127.0.0.1:6379"
REMOTE_MAX_AGE = 3600
ASGIApp = Callable[..., Awaitable[None]]
Request = tuple[str, str, list[tuple[bytes, bytes]], bytes]  # method, path, headers, body


# --- keys and the key server --------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """The clients' ES256 keys (inline, and at a jwksUri) and the issuer's RS256 key."""

    inline: ec.EllipticCurvePrivateKey
    hosted: ec.EllipticCurvePrivateKey
    issuer: rsa.RSAPrivateKey

    @staticmethod
    def generate() -> Keys:
        return Keys(
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP256R1()),
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
        )

    @staticmethod
    def jwk(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            public: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
            alg = "ES256"
        else:
            public = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            alg = "RS256"
        return public | {"kid": kid, "use": "sig", "alg": alg}


class _KeyHandler(BaseHTTPRequestHandler):
    documents: dict[str, bytes] = {}
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def do_GET(self) -> None:
        if self.path == "/counts":  # the bench's own question: not counted
            self._answer(json.dumps(dict(self.counts)).encode())
            return
        with self.lock:
            self.counts[self.path] += 1
        document = self.documents.get(self.path)
        if document is None:
            self.send_error(404)
            return
        self._answer(document)

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", f"public, max-age={REMOTE_MAX_AGE}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve_keys(documents_file: Path) -> None:
    """The key server (run in a process of its own): a client's jwksUri at /client/jwks, and
    an issuer at /issuer (discovery, then /issuer/jwks). Prints its port, then serves."""
    given = json.loads(documents_file.read_text())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeyHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    discovery = {"issuer": base + "/issuer", "jwks_uri": base + "/issuer/jwks"}
    _KeyHandler.documents = {
        "/client/jwks": json.dumps(given["client"]).encode(),
        "/issuer/.well-known/openid-configuration": json.dumps(discovery).encode(),
        "/issuer/jwks": json.dumps(given["issuer"]).encode(),
    }
    print(server.server_address[1], flush=True)
    server.serve_forever()


@dataclass
class KeyServer:
    process: subprocess.Popen[str]
    base: str

    @property
    def client_jwks_uri(self) -> str:
        return self.base + "/client/jwks"

    @property
    def issuer(self) -> str:
        return self.base + "/issuer"

    async def counts(self) -> Counter[str]:
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.get(self.base + "/counts")
        answer.raise_for_status()
        return Counter(answer.json())


@contextlib.contextmanager
def key_server(keys: Keys, workdir: Path) -> Iterator[KeyServer]:
    documents = workdir / "remote-keys.json"
    documents.write_text(
        json.dumps(
            {
                "client": {"keys": [Keys.jwk(keys.hosted, "hosted-1")]},
                "issuer": {"keys": [Keys.jwk(keys.issuer, "issuer-1")]},
            }
        )
    )
    process = subprocess.Popen(  # noqa: S603 (this interpreter, this script)
        [sys.executable, __file__, "--key-server", str(documents)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield KeyServer(process, f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(10)


# --- deployments ---------------------------------------------------------------------------


@dataclass
class Deployment:
    """One node's runtime and app over a SQLite file of its own, and its seeded clients."""

    name: str
    runtime: Runtime
    app: ASGIApp
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def redis(self) -> bool:
        return self.runtime.redis is not None


def redis_url(chosen: str | None) -> str | None:
    """The Redis server to use on a database number of this run's own, or None (with a
    printed note) when it is turned off or does not answer."""
    chosen = chosen or os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS
    if chosen == "none":
        print("note: Redis turned off (--redis none): the Redis variants are skipped")
        return None
    import redis

    try:
        redis.Redis.from_url(chosen, socket_timeout=1, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        print(f"note: Redis at {chosen} not reachable ({exc}): the Redis variants are skipped")
        return None
    base = chosen.rsplit("/", 1)[0] if chosen.count("/") > 2 else chosen
    return f"{base}/{random.randint(8, 15)}"  # noqa: S311 (not a secret)


def seed(name: str, workdir: Path, redis: str | None, algorithm: str) -> tuple[Settings, Seed]:
    """A SQLite store made by `keyloft init`, with an org, its admin and a Till, and the
    settings an in-process node of it runs with."""
    (workdir / name).mkdir(parents=True)
    with open_store("sqlite", workdir / name, redis, algorithm) as store:
        env = store.env
        made = seed_org(env, clients=4)
    values: dict[str, Any] = {
        "database_url": env["KEYLOFT_DATABASE_URL"],
        "secret_key": env["KEYLOFT_SECRET_KEY"],
        "issuer": env["KEYLOFT_ISSUER"],
        "signing_algorithm": algorithm,
        "redis_url": redis,
        "log_level": "WARNING",
        "federation_allow_http": True,  # the key server is on 127.0.0.1, over http
        "_env_file": None,
    }
    settings = Settings(**values)
    return settings, made


async def start(
    name: str, settings: Settings, made: Seed, keys: Keys, remote: KeyServer
) -> Deployment:
    """The node, and its clients made through the API as an admin would make them."""
    runtime = await build_runtime(settings)
    deployment = Deployment(name, runtime, create_app(runtime=runtime))
    base: dict[str, Any] = {
        "description": "secretless bench",
        "expirationTokenTime": 3600,
        "defaultTillId": made.till_id,
        "scopes": SCOPES,
    }
    private_key_jwt = {"tokenEndpointAuthMethod": "private_key_jwt"}
    bodies: dict[str, dict[str, Any]] = {
        "secret": {"name": "secret"},
        "inline": private_key_jwt
        | {"name": "inline-keys", "jwks": {"keys": [Keys.jwk(keys.inline, "inline-1")]}},
        "hosted": private_key_jwt | {"name": "hosted-keys", "jwksUri": remote.client_jwks_uri},
        "federated": private_key_jwt
        | {
            "name": "federated",
            "federatedCredentials": [
                {
                    "name": "gha-main",
                    "issuer": remote.issuer,
                    "subject": f"repo:{GHA_REPOSITORY}:ref:{GHA_REF}",
                    "audiences": [ISSUER],
                    "claims": {"repository": GHA_REPOSITORY, "ref": GHA_REF},
                }
            ],
        },
    }
    transport = httpx.ASGITransport(app=deployment.app)
    headers = {"Authorization": basic(*made.admin)}
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        for role, body in bodies.items():
            answer = await http.post("/v3/integrations/clients", json=base | body, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(
                    f"creating the {role} client: {answer.status_code} {answer.text}"
                )
            deployment.clients[role] = answer.json()["data"]
    return deployment


# --- requests ------------------------------------------------------------------------------


def _request(path: str, body: bytes, content_type: bytes, *extra: tuple[bytes, bytes]) -> Request:
    headers = [
        (b"host", b"keyloft.bench"),
        (b"accept", b"application/json"),
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    return ("POST", path, headers, body)


def form(fields: dict[str, str], *extra: tuple[bytes, bytes]) -> Request:
    body = urlencode(fields).encode()
    return _request("/oauth2/token", body, b"application/x-www-form-urlencoded", *extra)


def secret_basic(client: dict[str, Any]) -> Request:
    raw = f"{quote_plus(client['clientKey'])}:{quote_plus(client['clientSecret'])}"
    authorization = b"Basic " + base64.b64encode(raw.encode())
    return form({"grant_type": "client_credentials"}, (b"authorization", authorization))


def secret_v3(client: dict[str, Any]) -> Request:
    body = json.dumps({"key": client["clientKey"], "secret": client["clientSecret"]}).encode()
    return _request("/v3/oauth/token/generate", body, b"application/json")


def assertion_token(client_key: str, key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    """A fresh ES256 assertion: iss = sub = the client key, aud = the issuer, a new jti."""
    now = int(time.time())
    claims = {
        "iss": client_key,
        "sub": client_key,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 240,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def assertion_form(assertion: str, client_id: str | None = None) -> Request:
    fields = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
    }
    return form(fields | ({"client_id": client_id} if client_id else {}))


def github_actions_token(issuer: str, key: rsa.RSAPrivateKey) -> str:
    """A token shaped as GitHub Actions gives a workflow run, valid for an hour (so that one
    token lasts the whole run; GitHub's last minutes)."""
    now = int(time.time())
    workflow_ref = f"{GHA_REPOSITORY}/.github/workflows/deploy.yml@{GHA_REF}"
    claims = {
        "iss": issuer,
        "sub": f"repo:{GHA_REPOSITORY}:ref:{GHA_REF}",
        "aud": ISSUER,
        "jti": str(uuid.uuid4()),
        "nbf": now - 5,
        "iat": now - 5,
        "exp": now + 3600,
        "ref": GHA_REF,
        "ref_type": "branch",
        "repository": GHA_REPOSITORY,
        "repository_id": "123456789",
        "repository_owner": GHA_REPOSITORY.split("/")[0],
        "repository_owner_id": "987654",
        "repository_visibility": "private",
        "workflow": "deploy",
        "workflow_ref": workflow_ref,
        "job_workflow_ref": workflow_ref,
        "event_name": "push",
        "actor": "octocat",
        "run_id": "6789012345",
        "run_number": "42",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "issuer-1", "typ": "JWT"})


async def call(app: ASGIApp, request: Request) -> tuple[int, bytes]:
    """One request through the ASGI app, handed over as a server would; its status and body."""
    method, path, headers, body = request
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("keyloft.bench", 80),
    }
    received = False
    done = asyncio.Event()
    status = 0
    parts: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                done.set()

    await app(scope, receive, send)
    return status, b"".join(parts)


# --- variants and the timed rounds ---------------------------------------------------------

LABELS = {
    "a": "secret, /oauth2/token, client_secret_basic",
    "b": "secret, /v3/oauth/token/generate {key, secret}",
    "c": "private_key_jwt, ES256, inline jwks",
    "d": "private_key_jwt, ES256, jwksUri (held)",
    "e": "federated, RS256 GitHub Actions token, reused",
    "a+drop": "a, client cache dropped before each request",
}


@dataclass
class Variant:
    code: str
    deployment: Deployment
    requests: Callable[[int], list[Request]]
    """``n`` requests to send; assertions are signed here, before a batch's clock starts."""
    before_each: Callable[[], None] | None = None
    cpu: list[float] = field(default_factory=list)  # µs per request, one per round
    wall: list[float] = field(default_factory=list)
    system: list[float] = field(default_factory=list)  # the kernel's share of ``cpu``
    switches: int = 0  # voluntary context switches of the process's threads
    drops: int = 0  # client-cache drops the node noticed during the timed rounds
    sent: int = 0
    failed: int = 0
    statements: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.code} ({self.deployment.name})"


def repeated(request: Request) -> Callable[[int], list[Request]]:
    return lambda n: [request] * n


def fresh_assertions(
    client: dict[str, Any], key: ec.EllipticCurvePrivateKey, kid: str
) -> Callable[[int], list[Request]]:
    return lambda n: [
        assertion_form(assertion_token(client["clientKey"], key, kid)) for _ in range(n)
    ]


def variants(deployments: Sequence[Deployment], keys: Keys, remote: KeyServer) -> list[Variant]:
    federated_token = github_actions_token(remote.issuer, keys.issuer)
    found: list[Variant] = []
    for node in deployments:
        clients = node.clients
        federated = assertion_form(federated_token, clients["federated"]["clientKey"])
        found += [
            Variant("a", node, repeated(secret_basic(clients["secret"]))),
            Variant("b", node, repeated(secret_v3(clients["secret"]))),
            Variant("c", node, fresh_assertions(clients["inline"], keys.inline, "inline-1")),
            Variant("d", node, fresh_assertions(clients["hosted"], keys.hosted, "hosted-1")),
            Variant("e", node, repeated(federated)),
        ]
        if not node.redis:
            # What the node does when its look at the file finds another connection's commit.
            stale = node.runtime.copies.stale
            found.append(Variant("a+drop", node, repeated(secret_basic(clients["secret"])), stale))
    return found


def looks_minted(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    answer = json.loads(body)
    return bool(answer.get("access_token") or (answer.get("data") or {}).get("accessToken"))


async def check_first(variant: Variant) -> None:
    """The variant's request must mint before anything is measured."""
    status, body = await call(variant.deployment.app, variant.requests(1)[0])
    if not looks_minted(status, body):
        raise SystemExit(f"{variant.name} failed before the measurement: {status} {body[:300]!r}")


async def settle(variant: Variant) -> int:
    """One request of the variant, untimed, and a pause for what it set off in the background
    (a reload of the node's copies): each batch starts as its own kind of request leaves the
    node, not as the previous variant left it. Returns 1 if it did not answer 200."""
    request = variant.requests(1)[0]
    if variant.before_each is not None:
        variant.before_each()
    status, _ = await call(variant.deployment.app, request)
    await asyncio.sleep(0.01)
    return int(status != 200)


async def run_batch(variant: Variant, count: int, *, timed: bool, mark: bool) -> None:
    failed = await settle(variant)
    requests = variant.requests(count)
    app, before = variant.deployment.app, variant.before_each
    watch = variant.deployment.runtime.watch
    gc.collect()
    seen = watch.changes_seen if watch is not None else 0
    if mark:
        os.getpgrp()  # callgrind dumps its counts here (--dump-before=getpgrp)
    usage, cpu, wall = getrusage(RUSAGE_SELF), time.process_time(), time.perf_counter()
    for request in requests:
        if before is not None:
            before()
        status, _ = await call(app, request)
        failed += status != 200
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = getrusage(RUSAGE_SELF)
    if mark:
        os.getpgrp()
    if timed:
        variant.cpu.append(cpu / count * 1e6)
        variant.wall.append(wall / count * 1e6)
        variant.system.append((after.ru_stime - usage.ru_stime) / count * 1e6)
        variant.switches += after.ru_nvcsw - usage.ru_nvcsw
        variant.drops += (watch.changes_seen if watch is not None else 0) - seen
        variant.sent += count
        variant.failed += failed


async def count_statements(variant: Variant, count: int) -> None:
    """SQL statements per request over ``count`` requests, counted after the timed rounds
    (the listener costs time of its own)."""
    engine = variant.deployment.runtime.database.engine.sync_engine
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(str(args[2]))

    await settle(variant)
    event.listen(engine, "before_cursor_execute", note)
    try:
        for request in variant.requests(count):
            if variant.before_each is not None:
                variant.before_each()
            await call(variant.deployment.app, request)
        await asyncio.sleep(0.05)  # a reload the last request started finishes too
    finally:
        event.remove(engine, "before_cursor_execute", note)
    variant.statements = len(seen) / count


# --- the parts alone -----------------------------------------------------------------------

# What Keyloft asks PyJWT for: the signature only (times and audience are checked apart).
SIGNATURE_ONLY: Any = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


def _per_call(operation: Callable[[], object], count: int, rounds: int = 5) -> float:
    """Median CPU µs per call of ``operation`` over ``rounds`` rounds of ``count``."""
    operation()
    found = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            operation()
        found.append((time.process_time() - start) / count * 1e6)
    return statistics.median(found)


async def _per_await(
    operation: Callable[[], Awaitable[object]], count: int, rounds: int = 5
) -> tuple[float, float]:
    """Median CPU and wall µs per awaited call."""
    await operation()
    cpu, wall = [], []
    for _ in range(rounds):
        start, started = time.process_time(), time.perf_counter()
        for _ in range(count):
            await operation()
        cpu.append((time.process_time() - start) / count * 1e6)
        wall.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(cpu), statistics.median(wall)


async def parts(deployments: Sequence[Deployment], keys: Keys, remote: KeyServer) -> list[str]:
    """The signature checks (bare, and as Keyloft makes them) and the single-use checks,
    each measured alone."""
    inline = deployments[0].clients["inline"]["clientKey"]
    token = assertion_token(inline, keys.inline, "inline-1")
    signing_input, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    es_public = keys.inline.public_key()
    federated = github_actions_token(remote.issuer, keys.issuer)
    rs_input, _, rs_signature = federated.rpartition(".")
    rs_raw = base64.urlsafe_b64decode(rs_signature + "=" * (-len(rs_signature) % 4))
    rs_public = keys.issuer.public_key()
    client_keys = check_jwks({"keys": [Keys.jwk(keys.inline, "inline-1")]})
    issuer_keys = check_jwks({"keys": [Keys.jwk(keys.issuer, "issuer-1")]})
    own = assertions.read(ClientAuthRequest(dict(assertion_fields(token))))
    foreign = assertions.read(ClientAuthRequest(dict(assertion_fields(federated))))
    sha256 = hashes.SHA256()
    measured = {
        "ES256 verify, cryptography (the assertion's signature)": _per_call(
            lambda: es_public.verify(der, signing_input.encode(), ec.ECDSA(sha256)), 2000
        ),
        "ES256 assertion: PyJWT decode with the key, signature only": _per_call(
            lambda: jwt.decode(token, es_public, algorithms=["ES256"], options=SIGNATURE_ONLY),
            2000,
        ),
        "ES256 assertion: Keyloft's assertions.verify_signature": _per_call(
            lambda: assertions.verify_signature(own, client_keys, inline), 2000
        ),
        "ES256 assertion: Keyloft's assertions.read (unverified)": _per_call(
            lambda: assertions.read(ClientAuthRequest(assertion_fields(token))), 5000
        ),
        f"one PyJWT parse (get_unverified_header), the {len(token)}-char assertion": _per_call(
            lambda: jwt.get_unverified_header(token), 5000
        ),
        "RS256 verify, cryptography (the federated token's)": _per_call(
            lambda: rs_public.verify(rs_raw, rs_input.encode(), padding.PKCS1v15(), sha256), 2000
        ),
        "RS256 federated token: assertions.verify_signature": _per_call(
            lambda: assertions.verify_signature(foreign, issuer_keys, inline), 2000
        ),
        "RS256 federated token: assertions.read (unverified)": _per_call(
            lambda: assertions.read(ClientAuthRequest(assertion_fields(federated))), 5000
        ),
        f"one PyJWT parse (get_unverified_header), the {len(federated)}-char token": _per_call(
            lambda: jwt.get_unverified_header(federated), 5000
        ),
        "check_jwks of one ES256 JWK (a client read from the store)": _per_call(
            lambda: check_jwks({"keys": [Keys.jwk(keys.inline, "inline-1")]}), 2000
        ),
    }
    lines = [f"  {name:<62} {value:>7.1f} µs CPU" for name, value in measured.items()]
    until = datetime.now(UTC) + timedelta(minutes=5)
    for node in deployments:
        replays = node.runtime.replays
        cpu, wall = await _per_await(
            lambda r=replays: r.first_use(secrets.token_hex(32), until),  # type: ignore[misc]
            500,
        )
        how = "Redis SET NX" if node.redis else "one INSERT, in the file beside the database"
        name = f"single-use check, {how}"
        lines.append(
            f"  {name:<62} {cpu:>7.1f} µs CPU {wall:>7.1f} µs wall"
            f"  ({type(replays).__name__}.first_use)"
        )
    return lines


def assertion_fields(token: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": token}


# --- report --------------------------------------------------------------------------------


@dataclass
class Row:
    code: str
    node: str
    values: list[float]
    """CPU µs per request, or instructions per request, one per round."""
    wall: float = 0.0
    system: float = 0.0
    statements: float = 0.0
    drops: float = 0.0
    switches: float = 0.0


def rows(found: Sequence[Variant]) -> list[Row]:
    return [
        Row(
            v.code,
            v.deployment.name,
            v.cpu,
            wall=statistics.median(v.wall),
            system=statistics.median(v.system),
            statements=v.statements,
            drops=v.drops / max(v.sent, 1),
            switches=v.switches / max(v.sent, 1),
        )
        for v in found
    ]


def table(found: Sequence[Row], *, instructions: bool = False) -> list[str]:
    """One line per variant: the median over rounds and its ratio to a of the same node."""
    if instructions:
        head = f"{'variant':<15} {'request':<48} {'instr/req':>11} {'x a':>6}  per round"
    else:
        head = (
            f"{'variant':<15} {'request':<48} {'cpu µs/req':>10} {'x a':>6} {'sys µs':>6} "
            f"{'wall µs':>7} {'SQL/req':>7} {'drops/req':>9} {'cswch/req':>9}  cpu µs per round"
        )
    lines = [head, "-" * len(head)]
    baselines = {row.node: statistics.median(row.values) for row in found if row.code == "a"}
    for row in found:
        value = statistics.median(row.values)
        ratio = value / baselines[row.node]
        name = f"{row.code} ({row.node})"
        if instructions:
            rounds = ", ".join(f"{x:,.0f}" for x in row.values)
            lines.append(
                f"{name:<15} {LABELS[row.code]:<48} {value:>11,.0f} {ratio:>6.2f}  {rounds}"
            )
        else:
            rounds = " ".join(f"{x:.0f}" for x in row.values)
            lines.append(
                f"{name:<15} {LABELS[row.code]:<48} {value:>10.0f} {ratio:>6.2f} "
                f"{row.system:>6.0f} {row.wall:>7.0f} {row.statements:>7.2f} {row.drops:>9.2f} "
                f"{row.switches:>9.1f}  {rounds}"
            )
    return lines


def verdict(found: Sequence[Variant], warmup: Counter[str], during: Counter[str]) -> int:
    failed = sum(v.failed for v in found)
    fetched = sum(during.values())
    before = ", ".join(f"{path} {n}" for path, n in sorted(warmup.items()))
    after = ", ".join(f"{path} {n}" for path, n in sorted(during.items()))
    print(f"\nkey server requests before the timed rounds: {sum(warmup.values())} ({before})")
    print(f"key server requests during the timed rounds: {fetched}{f' ({after})' if after else ''}")
    print(f"timed requests: {sum(v.sent for v in found):,}, answered other than 200: {failed}")
    if failed or fetched:
        print("FAILED: every timed request must mint, and none may fetch remote keys")
        return 1
    return 0


# --- the run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    rounds: int
    requests: int
    warmup: int
    marks: Path | None = None
    """Under callgrind: where to write which batch each pair of dumps holds."""


@dataclass
class Measured:
    variants: list[Variant]
    warmup: Counter[str]
    during: Counter[str]
    parts: list[str]


async def measure(
    configured: Sequence[tuple[str, Settings, Seed]], keys: Keys, remote: KeyServer, plan: Plan
) -> Measured:
    deployments = [await start(name, s, made, keys, remote) for name, s, made in configured]
    try:
        found = variants(deployments, keys, remote)
        for variant in found:
            await check_first(variant)
        for variant in found:
            await run_batch(variant, plan.warmup, timed=False, mark=False)
        before = await remote.counts()
        batches: list[tuple[str, str]] = []
        for _ in range(plan.rounds):
            for variant in found:
                await run_batch(variant, plan.requests, timed=True, mark=plan.marks is not None)
                batches.append((variant.code, variant.deployment.name))
        during = await remote.counts() - before
        if plan.marks is not None:
            plan.marks.write_text(json.dumps({"batches": batches, "requests": plan.requests}))
            return Measured(found, before, during, [])
        for variant in found:
            await count_statements(variant, 100)
        return Measured(found, before, during, await parts(deployments, keys, remote))
    finally:
        # A node with Redis logs its own orderly stop as the bus lost: not news here.
        logging.getLogger("keyloft").setLevel(logging.ERROR)
        for node in deployments:
            await node.runtime.close()


def run(options: argparse.Namespace, plan: Plan) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="keyloft-secretless-"))
    try:
        redis = redis_url(options.redis)
        keys = Keys.generate()
        configured = [("sqlite", *seed("sqlite", workdir, None, options.algorithm))]
        if redis is not None:
            configured.append(("redis", *seed("redis", workdir, redis, options.algorithm)))
        with key_server(keys, workdir) as remote:
            measured: Measured = _event_loop(measure(configured, keys, remote, plan))
        if plan.marks is not None:
            return verdict(measured.variants, measured.warmup, measured.during)
        print()
        for line in table(rows(measured.variants)):
            print(line)
        print("\nmeasured alone (CPU per call, median of 5 rounds):")
        for line in measured.parts:
            print(line)
        return verdict(measured.variants, measured.warmup, measured.during)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _event_loop(work: Awaitable[Any]) -> Any:
    """Run on uvloop, as `keyloft serve` does, when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)  # type: ignore[arg-type]
    return uvloop.run(work)  # type: ignore[arg-type]


def instructions(options: argparse.Namespace) -> int:
    """Run this script under callgrind and print instructions per request per variant."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("\nvalgrind not found: no instruction counts")
        return 0
    out = Path(tempfile.mkdtemp(prefix="keyloft-callgrind-"))
    try:
        command = callgrind.command(valgrind, out, __file__, options)
        print(
            f"\ninstructions per request: callgrind, {options.cg_rounds} rounds x "
            f"{options.cg_requests} requests per variant (warm-up {options.cg_warmup})"
        )
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        print(done.stdout.strip())
        if done.returncode != 0:
            print(done.stderr[-3000:])
            return 1
        marks = json.loads((out / "marks.json").read_text())
        batches = [tuple(batch) for batch in marks["batches"]]
        dumps = sorted(out.glob("cg.out.*"), key=lambda p: int(p.suffix[1:]))
        if len(dumps) != 2 * len(batches):
            found = f"{len(dumps)} callgrind dumps for {len(batches)} batches"
            print(f"{found}: something else called getpgrp")
            return 1
        per: dict[tuple[str, str], list[float]] = {}
        for index, batch in enumerate(batches):
            # The dumps alternate: what ran up to a batch's start, then the batch itself.
            counted = _summary(out / f"cg.out.{2 * index + 2}")
            per.setdefault(batch, []).append(counted / marks["requests"])
        print()
        for line in table(
            [Row(code, node, v) for (code, node), v in per.items()], instructions=True
        ):
            print(line)
        return 0
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _summary(path: Path) -> float:
    for line in path.read_text().splitlines():
        if line.startswith("summary:"):
            return float(line.split()[1])
    raise RuntimeError(f"no summary in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500, help="per variant and round")
    parser.add_argument("--warmup", type=int, default=100, help="requests per variant")
    parser.add_argument(
        "--algorithm",
        choices=("RS256", "ES256", "EdDSA"),
        default="RS256",
        help="the deployment's token signing algorithm (KEYLOFT_SIGNING_ALGORITHM)",
    )
    parser.add_argument(
        "--redis", default=None, help="Redis server (default BENCH_REDIS_URL or local); 'none'"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="then count instructions (callgrind)"
    )
    parser.add_argument("--cg-rounds", type=int, default=3)
    parser.add_argument("--cg-requests", type=int, default=100)
    parser.add_argument("--cg-warmup", type=int, default=30)
    parser.add_argument("--key-server", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--callgrind-child", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.key_server is not None:
        serve_keys(options.key_server)
        return
    if options.callgrind_child is not None:
        plan = Plan(options.rounds, options.requests, options.warmup, options.callgrind_child)
        raise SystemExit(run(options, plan))
    print(
        f"Keyloft secretless bench: tokens signed {options.algorithm}, {options.rounds} rounds "
        f"x {options.requests} requests per variant (warm-up {options.warmup}), in process, "
        f"Python {sys.version.split()[0]}, cores={os.cpu_count()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    status = run(options, Plan(options.rounds, options.requests, options.warmup))
    if options.instructions:
        status = instructions(options) or status
    raise SystemExit(status)


if __name__ == "__main__":
    main()

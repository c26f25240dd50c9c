"""CPU per DPoP-bound decision (RFC 9449) beside a bearer one, and per token with a proof.

    .venv/bin/python bench/dpop.py                   # 5 rounds x 500 requests per variant
    .venv/bin/python bench/dpop.py --instructions    # and instructions per request (callgrind)
    .venv/bin/python bench/dpop.py --redis none      # the deployment without Redis only

The issue's target: a DPoP-bound decision (a check with a proof) costs at most 1.5 x the CPU of
a bearer decision, and a fresh proof's single-use check costs no round trip beyond one Redis
`SET NX`.

Set up as `bench/secretless.py` is, with its helpers: one process seeds two SQLite deployments
through the real command line and API (`keyloft init`, an org, an admin, a Till; then a secret
client through `POST /v3/integrations/clients`), one without Redis, where a proof's `jti` is
made single-use in the file beside the database (`SqliteReplays`), and one with Redis
(`--redis`, default BENCH_REDIS_URL or the local server, on a database number of its own),
where it is a `SET NX`; without a reachable Redis that deployment is skipped with a note. Each
is a real runtime and app called directly as an ASGI application: no HTTP server and no HTTP
client in the measured work. The client holds one ES256 DPoP key. Its bearer token and its
DPoP-bound token (`cnf.jkt`) are minted once, through the app; the variants:

    a   bearer decision: POST /v3/oauth/check {"token", "method", "path"}, the bearer token
        (the baseline: one token, seen before, as a gateway's steady state)
    b   DPoP decision: the same call with the bound token, "tokenType": "DPoP", "url" (the
        call's public URL) and a fresh ES256 proof per request (with `ath`)
    c   token: POST /oauth2/token, client_secret_basic (the baseline of d)
    d   token with a DPoP proof: c with a fresh proof per request in the `DPoP` header

Proofs are signed before the timed batch that sends them, so the client's signing is not
counted. After one checked request and a warm-up of each variant, the variants are alternated
in rounds (a, b, c, d, then the Redis deployment's, again); each batch starts with one untimed
request of its own and a 10 ms pause, then is timed with `time.process_time` (the whole
process: the event loop and its threads), `getrusage` (the kernel's share, voluntary context
switches) and `time.perf_counter`. The table shows per variant the median over rounds of CPU µs
per request, its ratio to its baseline in the same deployment (b to a, d to c), the kernel's
µs, the wall µs, the store's SQL statements per request, context switches per request, and
every round's CPU µs. A pass of 200 requests per variant after the timed rounds counts the SQL
statements and, on the Redis deployment, the Redis commands this process sent (by name, counted
where redis-py packs each command, so pipelines and the bus count too) and the calls the Redis
server counted (`INFO commandstats` deltas of SET and of all commands but INFO; the server may
have other clients, this process's count is the exact one). Then 500 requests of a and b each
with the CPU time inside `check_proof` and inside the single-use check (its await included)
summed apart from the rest of the request.

Then the parts of a DPoP decision, each measured alone (CPU per call, median of 5 rounds): the
decision service with and without a proof, the binding check (`services.dpop.check_binding`),
the proof check (`domain.dpop.check_proof`) and its pieces (a header whose key is held, as a
client's repeated header is, and one seen for the first time), the single-use check of each
deployment (Redis SET NX against the SQLite file, CPU and wall; the file's INSERT alone),
reading each check body.

It exits non-zero if any timed answer was not the expected one: a decision `allowed: true`, a
token 200 with an access token of the expected type (Bearer for c, DPoP for d).

With `--instructions` (valgrind needed) the same script then runs under `valgrind
--tool=callgrind` with fewer requests, and callgrind counts are dumped at each timed batch's
(and each part's) start and end (`--dump-before=getpgrp`: the script calls `os.getpgrp()`
there and nowhere else), so each figure's instructions come from its own batches, without
set-up.
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
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from resource import RUSAGE_SELF, getrusage
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import callgrind  # noqa: E402
import httpx  # noqa: E402
import jwt  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402
from jwt.algorithms import ECAlgorithm  # noqa: E402
from loadbench.seeding import SCOPES, Seed  # noqa: E402
from loadbench.wire import basic  # noqa: E402
from sqlalchemy import event  # noqa: E402

from keyloft.cache.sqlite_replay import SqliteReplays  # noqa: E402
from keyloft.config import Settings  # noqa: E402
from keyloft.domain.client_keys import split_jws, thumbprint, verify_jws  # noqa: E402
from keyloft.domain.dpop import (  # noqa: E402
    Proof,
    _header_key,
    check_proof,
    normalized_url,
    token_hash,
)
from keyloft.runtime import Runtime, build_runtime  # noqa: E402
from keyloft.services.dpop import DPOP, Presentation, check_binding, replay_key  # noqa: E402
from keyloft.web.app import create_app  # noqa: E402
from keyloft.web.schemas import CheckRequest  # noqa: E402
from secretless import (  # noqa: E402
    ISSUER,
    Deployment,
    Request,
    _event_loop,
    _per_await,
    _per_call,
    _request,
    _summary,
    call,
    redis_url,
    secret_basic,
    seed,
)

TARGET = 1.5
"""The issue's bound: a DPoP decision's CPU over a bearer decision's."""
CHECKED = {"method": "GET", "path": "/v3/targetGroups/7"}  # the allowed call bench/run.py checks
CALL_URL = "https://api.example.test/v3/targetGroups/7"  # its public URL, as a gateway names it
TOKEN_URL = ISSUER + "/oauth2/token"
COUNTED = 200
"""Requests per variant in the pass that counts SQL statements and Redis commands."""

LABELS = {
    "a": "bearer decision, POST /v3/oauth/check",
    "b": "DPoP decision, fresh ES256 proof",
    "c": "token, /oauth2/token client_secret_basic",
    "d": "token, the same with a DPoP proof",
}
BASELINE = {"a": "a", "b": "a", "c": "c", "d": "c"}


# --- the client's DPoP key ------------------------------------------------------------------


class Holder:
    """A client's ES256 DPoP key, signing proofs as a client library does."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jkt = thumbprint(self.jwk)
        self._headers = {"typ": "dpop+jwt", "jwk": self.jwk}

    def proof(self, method: str, url: str, token: str | None = None) -> str:
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if token is not None:
            claims["ath"] = token_hash(token)
        return jwt.encode(claims, self.key, algorithm="ES256", headers=self._headers)

    def call_proofs(self, token: str, count: int) -> list[str]:
        """``count`` fresh proofs for the checked call, made with ``token``."""
        return [self.proof(CHECKED["method"], CALL_URL, token) for _ in range(count)]


# --- requests -------------------------------------------------------------------------------


def check_body(token: str, proof: str | None = None) -> bytes:
    body: dict[str, Any] = {"token": token, **CHECKED}
    if proof is not None:
        body |= {"tokenType": "DPoP", "dpop": proof, "url": CALL_URL}
    return json.dumps(body).encode()


def check_request(token: str, proof: str | None = None) -> Request:
    return _request("/v3/oauth/check", check_body(token, proof), b"application/json")


def token_request(client: dict[str, Any], proof: str | None = None) -> Request:
    method, path, headers, body = secret_basic(client)
    if proof is not None:
        headers = [*headers, (b"dpop", proof.encode())]
    return method, path, headers, body


def is_allowed(status: int, body: bytes) -> bool:
    return status == 200 and (json.loads(body).get("data") or {}).get("allowed") is True


def is_token(kind: str) -> Callable[[int, bytes], bool]:
    def minted(status: int, body: bytes) -> bool:
        if status != 200:
            return False
        answer = json.loads(body)
        return bool(answer.get("access_token")) and answer.get("token_type") == kind

    return minted


# --- deployments ----------------------------------------------------------------------------


@dataclass
class Node:
    """A deployment with its secret client, the client's bearer token and its bound token."""

    deployment: Deployment
    client: dict[str, Any]
    bearer: str
    bound: str

    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def redis(self) -> bool:
        return self.deployment.redis


async def start(name: str, settings: Settings, made: Seed, holder: Holder) -> Node:
    """The node, its client made through the API as an admin would make it, and the client's
    two tokens minted through the app."""
    runtime = await build_runtime(settings)
    deployment = Deployment(name, runtime, create_app(runtime=runtime))
    body = {
        "name": "dpop-bench",
        "description": "dpop bench",
        "expirationTokenTime": 3600,
        "defaultTillId": made.till_id,
        "scopes": SCOPES,
    }
    transport = httpx.ASGITransport(app=deployment.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        answer = await http.post(
            "/v3/integrations/clients", json=body, headers={"Authorization": basic(*made.admin)}
        )
    if answer.status_code != 200:
        raise RuntimeError(f"creating the client: {answer.status_code} {answer.text}")
    client = answer.json()["data"]
    tokens = []
    for proof in (None, holder.proof("POST", TOKEN_URL)):
        status, minted = await call(deployment.app, token_request(client, proof))
        if status != 200:
            raise RuntimeError(f"minting a token on {name}: {status} {minted[:300]!r}")
        tokens.append(json.loads(minted)["access_token"])
    bearer, bound = tokens
    claims = jwt.decode(bound, options={"verify_signature": False})
    if claims.get("cnf") != {"jkt": holder.jkt}:
        raise RuntimeError(f"the bound token of {name} names no key: {claims.get('cnf')}")
    return Node(deployment, client, bearer, bound)


# --- counting Redis commands ----------------------------------------------------------------


@contextlib.contextmanager
def redis_commands() -> Iterator[Counter[str]]:
    """The Redis commands this process sends while the block runs, by name: counted where
    redis-py packs each one (single commands, pipelines, the bus's pub/sub alike)."""
    from redis.asyncio.connection import Connection

    owner = next(kind for kind in Connection.__mro__ if "pack_command" in vars(kind))
    original = vars(owner)["pack_command"]
    seen: Counter[str] = Counter()

    def counted(self: Any, *args: Any) -> Any:
        name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        seen[name.split()[0].upper()] += 1
        return original(self, *args)

    setattr(owner, "pack_command", counted)  # noqa: B010 (a method swapped for the block)
    try:
        yield seen
    finally:
        setattr(owner, "pack_command", original)  # noqa: B010


def server_calls(url: str) -> Counter[str]:
    """The Redis server's calls per command so far (INFO commandstats), of every client."""
    import redis

    server = redis.Redis.from_url(url, socket_timeout=5)
    try:
        stats: dict[str, Any] = server.info("commandstats")
    finally:
        server.close()
    return Counter(
        {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    )


# --- variants and the timed rounds ----------------------------------------------------------


@dataclass
class Batch:
    """One marked batch under callgrind: what it ran, and how many times."""

    kind: str  # "variant" or "part"
    code: str
    node: str
    count: int


@dataclass
class Variant:
    code: str
    node: Node
    requests: Callable[[int], list[Request]]
    """``count`` requests to send; proofs are signed here, before a batch's clock starts."""
    expected: Callable[[int, bytes], bool]
    cpu: list[float] = field(default_factory=list)  # µs per request, one per round
    wall: list[float] = field(default_factory=list)
    system: list[float] = field(default_factory=list)
    switches: int = 0
    timed: int = 0  # requests in the timed rounds
    sent: int = 0  # requests whose answers were checked
    failed: int = 0
    statements: float = 0.0
    commands: Counter[str] = field(default_factory=Counter)  # this process's, per COUNTED
    server: Counter[str] = field(default_factory=Counter)  # the server's, per COUNTED

    @property
    def name(self) -> str:
        return f"{self.code} ({self.node.name})"


def repeated(request: Request) -> Callable[[int], list[Request]]:
    return lambda n: [request] * n


def fresh_checks(holder: Holder, token: str) -> Callable[[int], list[Request]]:
    return lambda n: [check_request(token, proof) for proof in holder.call_proofs(token, n)]


def fresh_tokens(holder: Holder, client: dict[str, Any]) -> Callable[[int], list[Request]]:
    return lambda n: [token_request(client, holder.proof("POST", TOKEN_URL)) for _ in range(n)]


def variants(nodes: Sequence[Node], holder: Holder) -> list[Variant]:
    found: list[Variant] = []
    for node in nodes:
        found += [
            Variant("a", node, repeated(check_request(node.bearer)), is_allowed),
            Variant("b", node, fresh_checks(holder, node.bound), is_allowed),
            Variant("c", node, repeated(token_request(node.client)), is_token("Bearer")),
            Variant("d", node, fresh_tokens(holder, node.client), is_token("DPoP")),
        ]
    return found


async def check_first(variant: Variant) -> None:
    """The variant's request must be answered as expected before anything is measured."""
    status, body = await call(variant.node.deployment.app, variant.requests(1)[0])
    if not variant.expected(status, body):
        raise SystemExit(f"{variant.name} failed before the measurement: {status} {body[:300]!r}")


async def settle(variant: Variant) -> int:
    """One request of the variant, untimed, and a pause for what it set off in the background:
    each batch starts as its own kind of request leaves the node. 1 if it was not answered as
    expected."""
    status, body = await call(variant.node.deployment.app, variant.requests(1)[0])
    await asyncio.sleep(0.01)
    return int(not variant.expected(status, body))


async def run_batch(
    variant: Variant, count: int, *, timed: bool, marks: list[Batch] | None
) -> None:
    failed = await settle(variant)
    requests = variant.requests(count)
    app, expected = variant.node.deployment.app, variant.expected
    gc.collect()
    if marks is not None:
        os.getpgrp()  # callgrind dumps its counts here (--dump-before=getpgrp)
    usage, cpu, wall = getrusage(RUSAGE_SELF), time.process_time(), time.perf_counter()
    for request in requests:
        status, body = await call(app, request)
        failed += not expected(status, body)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = getrusage(RUSAGE_SELF)
    if marks is not None:
        os.getpgrp()
        marks.append(Batch("variant", variant.code, variant.node.name, count))
    if timed:
        variant.cpu.append(cpu / count * 1e6)
        variant.wall.append(wall / count * 1e6)
        variant.system.append((after.ru_stime - usage.ru_stime) / count * 1e6)
        variant.switches += after.ru_nvcsw - usage.ru_nvcsw
        variant.timed += count
        variant.sent += count
        variant.failed += failed


@contextlib.contextmanager
def timed_inside(runtime: Runtime) -> Iterator[dict[str, float]]:
    """CPU time spent inside the node's ``check_proof`` and single-use check while the block
    runs (the await included: a worker thread's or a round trip's cost lands there)."""
    import keyloft.services.dpop as service

    names, replays = vars(service), runtime.replays
    original, first_use = names["check_proof"], replays.first_use
    spent = {"check_proof": 0.0, "single use": 0.0}

    def check(*args: Any, **kwargs: Any) -> Proof:
        started = time.process_time()
        try:
            return original(*args, **kwargs)  # type: ignore[no-any-return]
        finally:
            spent["check_proof"] += time.process_time() - started

    async def use(key: str, expires_at: datetime) -> bool:
        started = time.process_time()
        try:
            return await first_use(key, expires_at)
        finally:
            spent["single use"] += time.process_time() - started

    names["check_proof"] = check
    setattr(replays, "first_use", use)  # noqa: B010 (this instance, for the block)
    try:
        yield spent
    finally:
        names["check_proof"] = original
        delattr(replays, "first_use")


@dataclass
class Inside:
    """One variant's requests timed whole and inside: CPU µs per request."""

    name: str
    total: float
    check: float
    use: float


async def inside(variant: Variant, count: int = 500) -> Inside:
    """``count`` requests of the variant, with the CPU time inside ``check_proof`` and the
    single-use check summed apart (a wrapper's own cost, about a µs, is in them)."""
    await settle(variant)
    requests = variant.requests(count)
    app = variant.node.deployment.app
    gc.collect()
    with timed_inside(variant.node.deployment.runtime) as spent:
        started = time.process_time()
        for request in requests:
            status, body = await call(app, request)
            variant.failed += not variant.expected(status, body)
            variant.sent += 1
        total = time.process_time() - started
    per = 1e6 / count
    return Inside(variant.name, total * per, spent["check_proof"] * per, spent["single use"] * per)


async def count_pass(variant: Variant, count: int = COUNTED) -> None:
    """SQL statements per request, and on the Redis deployment the Redis commands, over
    ``count`` requests after the timed rounds (the counting costs time of its own)."""
    runtime = variant.node.deployment.runtime
    engine = runtime.database.engine.sync_engine
    statements: list[str] = []

    def note(*args: Any) -> None:
        statements.append(str(args[2]))

    url = runtime.settings.redis_url if variant.node.redis else None
    await settle(variant)
    requests = variant.requests(count)
    before = server_calls(url) if url else Counter()
    event.listen(engine, "before_cursor_execute", note)
    try:
        with redis_commands() as sent:
            for request in requests:
                status, body = await call(variant.node.deployment.app, request)
                variant.failed += not variant.expected(status, body)
                variant.sent += 1
            await asyncio.sleep(0.05)  # what the last request set off finishes too
    finally:
        event.remove(engine, "before_cursor_execute", note)
    after = server_calls(url) if url else Counter()
    variant.statements = len(statements) / count
    if url:
        variant.commands = sent
        variant.server = after - before
        variant.server.pop("info", None)  # this bench's own question


# --- the parts alone ------------------------------------------------------------------------


@dataclass
class Part:
    label: str
    node: str
    cpu: float
    wall: float | None = None


@dataclass
class Meter:
    """Measures a part alone: CPU per call, median of 5 rounds of ``count``; or, under
    callgrind, one marked batch of ``count // 10`` (at least 50) calls."""

    marks: list[Batch] | None
    found: list[Part] = field(default_factory=list)

    def calls(self, count: int) -> int:
        return count if self.marks is None else max(50, count // 10)

    def proofs(self, count: int) -> int:
        """Fresh proofs enough for measuring a part of ``count`` calls per round once."""
        return (5 * count if self.marks is None else self.calls(count)) + 10

    def sync(self, label: str, node: str, operation: Callable[[], object], count: int) -> None:
        if self.marks is None:
            self.found.append(Part(label, node, _per_call(operation, count)))
            return
        count = self.calls(count)
        operation()
        os.getpgrp()
        for _ in range(count):
            operation()
        os.getpgrp()
        self.marks.append(Batch("part", label, node, count))

    async def awaited(
        self, label: str, node: str, operation: Callable[[], Awaitable[object]], count: int
    ) -> None:
        if self.marks is None:
            cpu, wall = await _per_await(operation, count)
            self.found.append(Part(label, node, cpu, wall))
            return
        count = self.calls(count)
        await operation()
        os.getpgrp()
        for _ in range(count):
            await operation()
        os.getpgrp()
        self.marks.append(Batch("part", label, node, count))


class Refused(RuntimeError):
    """A part's answer was not the expected one."""


async def parts(nodes: Sequence[Node], holder: Holder, meter: Meter) -> None:
    """A DPoP decision's parts, each alone: the decision service with and without a proof, the
    binding check, the proof check and its pieces, the single-use checks, the bodies."""
    first = nodes[0]
    bound, method = first.bound, CHECKED["method"]
    proof = holder.proof(method, CALL_URL, bound)
    now = time.time()
    signing_input, _, signature = proof.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    verifying = holder.key.public_key()
    header = jwt.get_unverified_header(proof)
    sha256 = hashes.SHA256()
    claims = jwt.decode(bound, options={"verify_signature": False})

    for node in nodes:
        runtime = node.deployment.runtime
        decisions = runtime.services.decisions
        token = node.bound
        # Fresh proofs for every call the meter makes of each (a warm-up and its rounds).
        supply = iter(holder.call_proofs(token, meter.proofs(300)))
        other = iter(holder.call_proofs(token, meter.proofs(300)))
        node_claims = jwt.decode(token, options={"verify_signature": False})

        async def bearer(d: Any = decisions, t: str = node.bearer) -> None:
            if not (await d.decide(t, method, CHECKED["path"])).allowed:
                raise Refused("a bearer decision was refused")

        async def dpop(d: Any = decisions, t: str = token, s: Iterator[str] = supply) -> None:
            presentation = Presentation(DPOP, (next(s),), method, CALL_URL)
            decided = await d.decide(t, method, CHECKED["path"], presentation=presentation)
            if not decided.allowed:
                raise Refused(f"a DPoP decision was refused: {decided.reason}")

        async def binding(
            r: Any = runtime, c: Any = node_claims, t: str = token, s: Iterator[str] = other
        ) -> None:
            await check_binding(r, c, t, Presentation(DPOP, (next(s),), method, CALL_URL))

        async def first_use(r: Any = runtime) -> None:
            until = datetime.now(UTC) + timedelta(minutes=6)
            if not await r.replays.first_use(secrets.token_hex(32), until):
                raise Refused("a fresh key was taken for a replay")

        await meter.awaited("decide, bearer", node.name, bearer, 2000)
        await meter.awaited("decide, DPoP (proof, single use, key)", node.name, dpop, 300)
        await meter.awaited("check_binding (proof, single use, key)", node.name, binding, 300)
        how = "Redis SET NX" if node.redis else "SqliteReplays INSERT"
        await meter.awaited(f"single-use check, {how}", node.name, first_use, 500)
        replays = runtime.replays
        if isinstance(replays, SqliteReplays):

            def claim(r: SqliteReplays = replays, until: float = time.time() + 360) -> bool:
                return r._claim(r._quick, secrets.token_hex(32), until)

            meter.sync("  the INSERT alone, on the calling thread", node.name, claim, 2000)

    parsed = check_proof(proof, method=method, url=CALL_URL, now=now, access_token=bound)
    jws = split_jws(proof)
    checked = _header_key(jws.header)
    assert not isinstance(checked, str), checked
    client_key = checked[0]
    meter.sync(
        "check_proof, ES256, all of it (its header's key held)",
        "",
        lambda: check_proof(proof, method=method, url=CALL_URL, now=now, access_token=bound),
        2000,
    )
    meter.sync("  split_jws: the alphabet, one split", "", lambda: split_jws(proof), 5000)
    meter.sync("  _header_key, the header held", "", lambda: _header_key(jws.header), 5000)
    meter.sync(
        "  verify_jws: ES256, the payload decoded",
        "",
        lambda: verify_jws(jws, client_key, "ES256"),
        2000,
    )
    meter.sync(
        "    ES256 verify alone (cryptography)",
        "",
        lambda: verifying.verify(der, signing_input.encode(), ec.ECDSA(sha256)),
        2000,
    )
    meter.sync("  token_hash (ath)", "", lambda: token_hash(bound), 5000)
    meter.sync(
        "a header not held: JSON, the JWK's checks, the key, the thumbprint",
        "",
        lambda: _header_key.__wrapped__(jws.header),
        2000,
    )
    meter.sync("  thumbprint(jwk) alone", "", lambda: thumbprint(header["jwk"]), 5000)
    meter.sync(
        "normalized_url x 2 (htu written otherwise)",
        "",
        lambda: (normalized_url(CALL_URL), normalized_url(CALL_URL)),
        5000,
    )
    meter.sync("replay_key (SHA-256 of jkt and jti)", "", lambda: replay_key(parsed), 5000)
    meter.sync(
        "compare jkt with cnf.jkt",
        "",
        lambda: claims["cnf"]["jkt"] == parsed.jkt,
        5000,
    )
    bearer_body, dpop_body = check_body(bound), check_body(bound, proof)
    meter.sync(
        f"read the bearer check body ({len(bearer_body)} bytes)",
        "",
        lambda: CheckRequest.model_validate_json(bearer_body),
        5000,
    )
    meter.sync(
        f"read the DPoP check body ({len(dpop_body)} bytes)",
        "",
        lambda: CheckRequest.model_validate_json(dpop_body),
        5000,
    )


# --- report ---------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(found: Sequence[Variant]) -> list[str]:
    """One line per variant: the median over rounds and its ratio to its baseline."""
    head = (
        f"{'variant':<12} {'request':<42} {'cpu µs/req':>10} {'x base':>6} {'sys µs':>6} "
        f"{'wall µs':>7} {'SQL/req':>7} {'cswch/req':>9}  cpu µs per round"
    )
    lines = [head, "-" * len(head)]
    medians = {(v.code, v.node.name): _median(v.cpu) for v in found}
    for v in found:
        value = medians[(v.code, v.node.name)]
        ratio = value / medians[(BASELINE[v.code], v.node.name)]
        rounds = " ".join(f"{x:.0f}" for x in v.cpu)
        lines.append(
            f"{v.name:<12} {LABELS[v.code]:<42} {value:>10.0f} {ratio:>6.2f} "
            f"{_median(v.system):>6.0f} {_median(v.wall):>7.0f} {v.statements:>7.2f} "
            f"{v.switches / max(v.timed, 1):>9.1f}  {rounds}"
        )
    return lines


def ratios(per: dict[tuple[str, str], float], unit: str) -> list[str]:
    """DPoP over bearer decisions (against the target) and tokens with and without a proof."""
    lines = []
    for node in sorted({node for _, node in per}, key=lambda n: n != "sqlite"):
        a, b = per.get(("a", node)), per.get(("b", node))
        c, d = per.get(("c", node)), per.get(("d", node))
        if a and b:
            met = "met" if b / a <= TARGET else "NOT met"
            lines.append(
                f"  {node:<7} DPoP / bearer decision: {b / a:.2f} x ({b - a:+,.0f} {unit}); "
                f"target <= {TARGET} x: {met}"
            )
        if c and d:
            lines.append(
                f"  {node:<7} token with a proof / without: {d / c:.2f} x ({d - c:+,.0f} {unit})"
            )
    return lines


def commands(found: Sequence[Variant]) -> list[str]:
    """Redis commands per request on the Redis deployment: this process's, the server's."""
    lines = []
    for v in found:
        if not v.node.redis:
            continue
        mine = ", ".join(f"{n} {c / COUNTED:.2f}" for n, c in sorted(v.commands.items()))
        theirs = v.server.get("set", 0) / COUNTED
        total = sum(v.server.values()) / COUNTED
        lines.append(
            f"  {v.name:<10} sent by this process: {mine or 'none'}; "
            f"server counted: set {theirs:.2f}, all {total:.2f}"
        )
    by = {v.code: v for v in found if v.node.redis}
    if "b" in by:
        b = by["b"].commands
        # A PING is redis-py's health check of a connection idle for 5 s (health_check_interval),
        # made once per idle spell, not per request.
        one = b["SET"] == COUNTED and set(b) <= {"SET", "PING"} and b["PING"] <= 2
        lines.append(
            f"  DPoP decision: exactly one SET per fresh proof, nothing else but a health-check "
            f"PING after an idle spell: {'yes' if one else 'NO'}"
        )
    if "c" in by and "d" in by:
        extra = by["d"].commands - by["c"].commands
        more = ", ".join(f"{n} {c / COUNTED:.2f}" for n, c in sorted(extra.items()))
        lines.append(f"  token with a proof, beyond one without: {more or 'none'}")
    return lines


def part_lines(found: Sequence[Part]) -> list[str]:
    lines = []
    for part in found:
        name = f"{part.label}{f' ({part.node})' if part.node else ''}"
        wall = f" {part.wall:>7.1f} µs wall" if part.wall is not None else ""
        lines.append(f"  {name:<58} {part.cpu:>7.1f} µs CPU{wall}")
    return lines


def inside_lines(found: Sequence[Inside]) -> list[str]:
    lines = []
    for one in found:
        rest = one.total - one.check - one.use
        lines.append(
            f"  {one.name:<12} whole {one.total:>5.0f}  check_proof {one.check:>5.0f}  "
            f"single-use check {one.use:>5.0f}  the rest {rest:>5.0f}"
        )
    return lines


def verdict(found: Sequence[Variant]) -> int:
    failed = sum(v.failed for v in found)
    sent = sum(v.sent for v in found)
    print(f"\nanswers checked: {sent:,}, not the expected one: {failed}")
    if failed:
        print("FAILED: every decision must be allowed, every token request answered 200")
        return 1
    return 0


# --- the run --------------------------------------------------------------------------------


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
    parts: list[Part]
    inside: list[Inside] = field(default_factory=list)


async def measure(
    configured: Sequence[tuple[str, Settings, Seed]], holder: Holder, plan: Plan
) -> Measured:
    nodes = [await start(name, settings, made, holder) for name, settings, made in configured]
    try:
        found = variants(nodes, holder)
        for variant in found:
            await check_first(variant)
        for variant in found:
            await run_batch(variant, plan.warmup, timed=False, marks=None)
        marks: list[Batch] | None = [] if plan.marks is not None else None
        for _ in range(plan.rounds):
            for variant in found:
                await run_batch(variant, plan.requests, timed=True, marks=marks)
        meter = Meter(marks)
        await parts(nodes, holder, meter)
        if plan.marks is not None:
            batches = [[b.kind, b.code, b.node, b.count] for b in marks or []]
            plan.marks.write_text(json.dumps(batches))
            return Measured(found, [])
        for variant in found:
            await count_pass(variant)
        timed = [await inside(v) for v in found if v.code in ("a", "b")]
        return Measured(found, meter.found, timed)
    finally:
        # A node with Redis logs its own orderly stop as the bus lost: not news here.
        logging.getLogger("keyloft").setLevel(logging.ERROR)
        for node in nodes:
            await node.deployment.runtime.close()


def run(options: argparse.Namespace, plan: Plan) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="keyloft-dpop-"))
    try:
        redis = redis_url(options.redis)
        holder = Holder()
        configured = [("sqlite", *seed("sqlite", workdir, None, options.algorithm))]
        if redis is not None:
            configured.append(("redis", *seed("redis", workdir, redis, options.algorithm)))
        measured: Measured = _event_loop(measure(configured, holder, plan))
        if plan.marks is not None:
            return verdict(measured.variants)
        print()
        for line in table(measured.variants):
            print(line)
        print("\nratios (median CPU µs per request):")
        per = {(v.code, v.node.name): _median(v.cpu) for v in measured.variants}
        for line in ratios(per, "µs"):
            print(line)
        lines = commands(measured.variants)
        if lines:
            print(f"\nRedis commands per request ({COUNTED} requests per variant):")
            for line in lines:
                print(line)
        print("\ninside a request (CPU µs per request, 500 requests each, after the rounds):")
        for line in inside_lines(measured.inside):
            print(line)
        print("\nmeasured alone (CPU per call, median of 5 rounds):")
        for line in part_lines(measured.parts):
            print(line)
        return verdict(measured.variants)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def instructions(options: argparse.Namespace) -> int:
    """Run this script under callgrind and print instructions per request and per part."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("\nvalgrind not found: no instruction counts")
        return 0
    out = Path(tempfile.mkdtemp(prefix="keyloft-callgrind-"))
    try:
        command = callgrind.command(valgrind, out, __file__, options)
        print(
            f"\ninstructions: callgrind, {options.cg_rounds} rounds x {options.cg_requests} "
            f"requests per variant (warm-up {options.cg_warmup}); the parts a tenth as often"
        )
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        print(done.stdout.strip())
        if done.returncode != 0:
            print(done.stderr[-3000:])
            return 1
        batches = [Batch(*b) for b in json.loads((out / "marks.json").read_text())]
        dumps = list(out.glob("cg.out.*"))
        if len(dumps) != 2 * len(batches):
            print(f"{len(dumps)} callgrind dumps for {len(batches)} batches: something else")
            print("called getpgrp")
            return 1
        rounds: dict[tuple[str, str], list[float]] = {}
        alone: list[tuple[str, str, float]] = []
        for index, batch in enumerate(batches):
            # The dumps alternate: what ran up to a batch's start, then the batch itself.
            counted = _summary(out / f"cg.out.{2 * index + 2}") / batch.count
            if batch.kind == "variant":
                rounds.setdefault((batch.code, batch.node), []).append(counted)
            else:
                alone.append((batch.code, batch.node, counted))
        per = {key: _median(values) for key, values in rounds.items()}
        head = f"{'variant':<12} {'request':<42} {'instr/req':>11} {'x base':>6}  per round"
        print(f"\n{head}\n{'-' * len(head)}")
        for (code, node), values in rounds.items():
            ratio = per[(code, node)] / per[(BASELINE[code], node)]
            each = ", ".join(f"{x:,.0f}" for x in values)
            name = f"{code} ({node})"
            print(
                f"{name:<12} {LABELS[code]:<42} {per[(code, node)]:>11,.0f} {ratio:>6.2f}  {each}"
            )
        print("\nratios (median instructions per request):")
        for line in ratios(per, "instructions"):
            print(line)
        print("\nmeasured alone (instructions per call):")
        for label, node, counted in alone:
            name = f"{label}{f' ({node})' if node else ''}"
            print(f"  {name:<58} {counted:>11,.0f}")
        return 0
    finally:
        shutil.rmtree(out, ignore_errors=True)


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
    parser.add_argument("--callgrind-child", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.callgrind_child is not None:
        plan = Plan(options.rounds, options.requests, options.warmup, options.callgrind_child)
        raise SystemExit(run(options, plan))
    print(
        f"Keyloft DPoP bench: tokens signed {options.algorithm}, proofs ES256, {options.rounds} "
        f"rounds x {options.requests} requests per variant (warm-up {options.warmup}), in "
        f"process, Python {sys.version.split()[0]}, cores={os.cpu_count()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    plan = Plan(options.rounds, options.requests, options.warmup)
    status = run(options, plan)
    if options.instructions:
        status = instructions(options) or status
    raise SystemExit(status)


if __name__ == "__main__":
    main()

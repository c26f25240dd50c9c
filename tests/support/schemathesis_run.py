"""Schemathesis against a live ``keyloft serve``: the node (a temporary SQLite store with the
demo org), clients and their access tokens made through the API, one run of the schemathesis
command line with tests/api/schemathesis.toml and the hooks of
``tests.support.schemathesis_hooks``, and what a test needs from its output and JSON report."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.integration.nodes import Node, free_port, keyloft, stop, wait_ready

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tests" / "api" / "schemathesis.toml"
# Generators for the document's own formats, and its rules applied to positive requests.
HOOKS = "tests.support.schemathesis_hooks"
# Where the report of a run begins: its FAILURES (or ERRORS) section, else what follows.
REPORT_START = re.compile(r"^=+ (FAILURES|ERRORS|WARNINGS|SUMMARY) =+$", re.MULTILINE)
REPORT_LIMIT = 40_000
SECTION = re.compile(r"^_+ (?P<label>\S.*?) _+$")
CHECK = re.compile(r"^- (?P<code>[A-Z]+\d+) (?P<title>.+)$")
ANSWER = re.compile(r"^\[(?P<status>\d{3})\] .*:$")
BODY_LIMIT = 200
SCENARIOS = re.compile(r"^\s*Scenarios:\s+(\d+)\s*$", re.MULTILINE)
PHASE_TIME = re.compile(
    r"^ \S+\s+(?P<phase>[A-Z][a-z]+) \(in (?P<seconds>[\d.]+)s\)$", re.MULTILINE
)
LINKS = re.compile(r"^\s*API Links:\s+(\d+) covered / (\d+) selected", re.MULTILINE)


@dataclass(frozen=True)
class LiveNode:
    """A serving node with the demo org: its admin's Basic login and its Tills' ids."""

    url: str
    admin: tuple[str, str]
    till_ids: list[int]
    log: Path


def node_errors(node: LiveNode) -> list[str]:
    """The node's logged errors, once each: logger, message and the exception's last line
    (what a 500 was), for a failure report."""
    seen: dict[str, None] = {}
    for row in node.log.read_text(errors="replace").splitlines():
        try:
            line = json.loads(row)
        except ValueError:
            continue
        if not isinstance(line, dict) or line.get("level") not in ("ERROR", "CRITICAL"):
            continue
        trace = str(line.get("exception") or "").strip().splitlines()
        cause = f": {trace[-1]}" if trace else ""
        seen[f"{line.get('logger')}: {str(line.get('message')).strip()}{cause}"] = None
    return list(seen)


@contextmanager
def live_node(workdir: Path) -> Iterator[LiveNode]:
    """``keyloft init --demo`` on a fresh SQLite file, then ``keyloft serve`` on a free port,
    ready (``/health/ready`` says ok) when yielded and stopped afterwards.

    Failed logins are not limited here: schemathesis sends wrong credentials on purpose
    (``ignored_auth``), and a locked-out admin would answer 429 to everything after that."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KEYLOFT_")},
        "KEYLOFT_DATABASE_URL": f"sqlite:///{workdir}/keyloft.db",
        "KEYLOFT_SECRET_KEY": "conformance-secret-" + secrets.token_urlsafe(32),
        "KEYLOFT_ISSUER": url,
        "KEYLOFT_LOG_LEVEL": "WARNING",
        "KEYLOFT_AUTH_FAILURE_LIMIT": "1000000",
        "KEYLOFT_AUTH_FAILURE_IP_LIMIT": "1000000",
        # Created clients would otherwise reach the org's limit of 15 and answer 409 from then on.
        "KEYLOFT_DEFAULT_MAX_CLIENTS": "100000",
        "KEYLOFT_DEFAULT_MAX_TOKEN_TTL": str(MAX_TOKEN_TTL),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    made = keyloft(env, "init", "--demo", "--json")
    log = workdir / "node.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "keyloft", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    node = Node(url, process, log)
    try:
        wait_ready(node, within=60)
        admin = made["admin"]
        yield LiveNode(
            url=url,
            admin=(admin["username"], admin["password"]),
            till_ids=[till["id"] for till in made["tills"]],
            log=log,
        )
    finally:
        stop([node])


MAX_TOKEN_TTL = 3600


def org_state(node: LiveNode) -> dict[str, Any]:
    """What only the demo org's state knows, for the hooks to give well-formed requests:
    its Till ids, scope entity ids and token lifetime cap."""
    with httpx.Client(base_url=node.url, auth=node.admin, timeout=30) as http:
        scopes = http.get("/v3/integrations/scopes")
        assert scopes.status_code == 200, scopes.text
    return {
        "tills": node.till_ids,
        "entities": [entity["id"] for entity in scopes.json()["data"]],
        "maxTokenTtl": MAX_TOKEN_TTL,
    }


def create_client(node: LiveNode, name: str) -> dict[str, Any]:
    """A client the admin creates through the API (its answer, with the secret): READWRITE on
    the org's ``All`` entity, which Keyloft's own paths fall under, and the first demo Till."""
    with httpx.Client(base_url=node.url, auth=node.admin, timeout=30) as http:
        scopes = http.get("/v3/integrations/scopes")
        assert scopes.status_code == 200, scopes.text
        (everything,) = [entity for entity in scopes.json()["data"] if entity["entity"] == "All"]
        created = http.post(
            "/v3/integrations/clients",
            json={
                "name": name,
                "description": "OpenAPI conformance run",
                "expirationTokenTime": 3600,
                "defaultTillId": node.till_ids[0],
                "scopes": [
                    {"entityId": everything["id"], "permission": "READWRITE", "resources": []}
                ],
            },
        )
        assert created.status_code == 200, created.text
        client: dict[str, Any] = created.json()["data"]
        return client


def mint_token(node: LiveNode, client: dict[str, Any]) -> str:
    """An access token of ``client`` from POST /v3/oauth/token/generate."""
    minted = httpx.post(
        f"{node.url}/v3/oauth/token/generate",
        json={"key": client["clientKey"], "secret": client["clientSecret"]},
        timeout=30,
    )
    assert minted.status_code == 200, minted.text
    token: str = minted.json()["data"]["accessToken"]
    return token


@dataclass(frozen=True)
class Failure:
    """One failing check of one operation as the text report tells it: the check's first line
    of explanation, and the answer's status and (the start of its) body."""

    operation: str
    code: str
    title: str
    detail: str
    answer: str

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.operation}: {self.code} {self.title}{detail}; got {self.answer}"


def parse_failures(output: str) -> list[Failure]:
    """Each failure of the report's FAILURES section once (same operation, check, explanation
    and status), in the order the output names them."""
    found: dict[tuple[str, str, str, str], Failure] = {}
    operation = ""
    checks: list[tuple[str, str, str]] = []  # of the test case being read, until its answer
    lines = output.splitlines()

    def flush(status: str, body: str) -> None:
        answer = f"{status} {body[:BODY_LIMIT]}".strip() or "no answer"
        for code, title, detail in checks:
            key = (operation, code, detail, status)
            found.setdefault(key, Failure(operation, code, title, detail, answer))
        checks.clear()

    for index, line in enumerate(lines):
        if (SECTION.match(line) or REPORT_START.match(line)) and checks:
            flush("", "")
        if section := SECTION.match(line):
            operation = section["label"]
        elif check := CHECK.match(line):
            following = next((row for row in lines[index + 1 :] if row.strip()), "")
            detail = following.strip() if following.startswith("    ") else ""
            checks.append((check["code"], check["title"], detail))
        elif (answer := ANSWER.match(line)) and checks:
            body = next((row.strip() for row in lines[index + 1 :] if row.strip()), "")
            flush(answer["status"], body.strip("`"))
    return list(found.values())


@dataclass(frozen=True)
class Run:
    """One finished schemathesis run: how it was called, its exit code, its whole output,
    its JSON report and how long it took."""

    label: str
    command: list[str]
    exit_code: int
    output: str
    report: dict[str, Any]
    seconds: float
    links: dict[str, int]

    @property
    def failure_report(self) -> str:
        """The tail of the output a CI log needs: failures, warnings and the summary."""
        found = REPORT_START.search(self.output)
        tail = self.output[found.start() :] if found else self.output
        if len(tail) > REPORT_LIMIT:
            tail = "[… cut …]\n" + tail[-REPORT_LIMIT:]
        return tail

    @property
    def failures(self) -> list[Failure]:
        return parse_failures(self.output)

    @property
    def stateful_scenarios(self) -> int:
        found = SCENARIOS.search(self.output)
        return int(found[1]) if found else 0

    @property
    def links_covered(self) -> tuple[int, int]:
        """Covered and selected OpenAPI links of the stateful phase ((0, 0) without it)."""
        found = LINKS.search(self.output)
        return (int(found[1]), int(found[2])) if found else (0, 0)

    def describe(self) -> str:
        """A short account for the test's output: time, what was tested, what failed."""
        operations = self.report.get("operations", {})
        cases = self.report.get("test_cases", {})
        phases = {name: phase["status"] for name, phase in self.report.get("phases", {}).items()}
        took = {
            found["phase"].lower(): found["seconds"] for found in PHASE_TIME.finditer(self.output)
        }
        shown = ", ".join(
            f"{name} {status}" + (f" in {took[name]} s" if name in took else "")
            for name, status in phases.items()
        )
        covered, selected = self.links_covered
        lines = [
            f"schemathesis [{self.label}]: {self.seconds:.1f} s wall, exit code {self.exit_code}",
            f"  command: {' '.join(self.command)}",
            f"  operations tested: {operations.get('tested')}/{operations.get('selected')}",
            f"  test cases: {cases.get('generated')} generated, "
            f"{cases.get('unique_failures')} unique failures",
            f"  phases: {shown}",
        ]
        if phases.get("stateful") not in (None, "skip"):
            lines.append(
                f"  stateful: {self.stateful_scenarios} scenarios, links {covered} covered "
                f"/ {selected} selected; followed (source status -> target status: times):"
            )
            lines += [f"    {link}: {times}" for link, times in sorted(self.links.items())]
        lines += [f"  - {failure}" for failure in self.failures]
        return "\n".join(lines)


def followed_links(events: Path) -> dict[str, int]:
    """The links the stateful phase followed, from its NDJSON events: ``"<source> <status> ->
    <target> <status>"`` and how many times."""
    followed: dict[str, int] = {}
    if not events.exists():
        return followed
    with events.open(encoding="utf-8") as lines:
        for row in lines:
            if "ScenarioFinished" not in row or "stateful" not in row:
                continue
            finished = json.loads(row).get("ScenarioFinished") or {}
            if finished.get("phase") != "stateful":
                continue
            recorder = finished.get("recorder") or {}
            cases = recorder.get("cases") or {}
            for case_id, case in cases.items():
                parent = case.get("parent_id")
                if case.get("is_transition_applied") and parent in cases:
                    link = f"{_step(recorder, parent)} -> {_step(recorder, case_id)}"
                    followed[link] = followed.get(link, 0) + 1
    return followed


def _step(recorder: dict[str, Any], case_id: str) -> str:
    """One recorded call of a scenario: method, path template and the answer's status."""
    case = ((recorder.get("cases") or {}).get(case_id) or {}).get("value") or {}
    interaction = (recorder.get("interactions") or {}).get(case_id) or {}
    status = (interaction.get("response") or {}).get("status_code") or "no answer"
    return f"{case.get('method')} {case.get('path')} {status}"


def configured_seed() -> int:
    seed: int = tomllib.loads(CONFIG.read_text())["seed"]
    return seed


@dataclass(frozen=True)
class Table:
    """A table added to tests/api/schemathesis.toml for one run, such as
    ``[auth.openapi.basic]``; its values reach schemathesis through the environment, as
    ``${VARIABLE}`` placeholders, so that no credential is written to a file or a command."""

    name: str
    values: dict[str, str]

    def text(self) -> str:
        rows = [f'"{key}" = "${{{self.variable(key)}}}"' for key in self.values]
        return "\n".join([f"[{self.name}]", *rows]) + "\n"

    def environment(self) -> dict[str, str]:
        return {self.variable(key): value for key, value in self.values.items()}

    def variable(self, key: str) -> str:
        return "KEYLOFT_CONFORMANCE_" + re.sub(r"\W+", "_", f"{self.name}_{key}").upper()


def basic_auth(username: str, password: str) -> Table:
    """The document's ``basic`` scheme: schemathesis sends it only to the operations that
    accept that scheme, not to those of the OAuth endpoints' own Basic (client_secret_basic)."""
    return Table("auth.openapi.basic", {"username": username, "password": password})


def bearer_auth(token: str) -> Table:
    """The document's ``bearer`` scheme, only to the operations that accept it."""
    return Table("auth.openapi.bearer", {"bearer": token})


def run_schemathesis(
    node: LiveNode,
    workdir: Path,
    *,
    label: str,
    phases: Sequence[str],
    tables: Sequence[Table],
) -> Run:
    """``schemathesis run`` over the node's /openapi.json with every check, the phases named,
    the settings of tests/api/schemathesis.toml (seed, examples, accepted statuses), the hooks
    of ``tests.support.schemathesis_hooks`` and ``tables`` (its authentication, and any
    parameter a run pins)."""
    report = workdir / f"schemathesis-{label}.json"
    events = workdir / f"schemathesis-{label}.ndjson"
    config = workdir / f"schemathesis-{label}.toml"
    config.write_text("\n".join([CONFIG.read_text(), *(table.text() for table in tables)]))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    # The hooks are imported by name, from the repository: it goes first on the path.
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment |= {"SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": os.pathsep.join(paths)}
    for table in tables:
        environment |= table.environment()
    environment["KEYLOFT_SCHEMATHESIS_STATE"] = json.dumps(org_state(node))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{node.url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        ",".join(phases),
        "--no-color",
        "--report",
        "json,ndjson" if "stateful" in phases else "json",
        "--report-json-path",
        str(report),
        "--report-ndjson-path",
        str(events),
    ]
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=workdir,  # anything it writes beside it stays in the test's directory
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - started
    output = done.stdout + (f"\n[stderr]\n{done.stderr}" if done.stderr.strip() else "")
    parsed: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    return Run(label, command, done.returncode, output, parsed, seconds, followed_links(events))

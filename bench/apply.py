"""Configuration as code at the scale of a partner team: a manifest of 50 clients applied,
applied again, exported and the export applied back, each through the real command line.

    .venv/bin/python bench/apply.py                      # SQLite, in a temporary directory
    .venv/bin/python bench/apply.py --clients 200        # more clients
    .venv/bin/python bench/apply.py --database-url postgresql://postgres@127.0.0.1:5432/bench

What it does, in a temporary directory (removed at the end, ``--keep`` keeps it):

1. ``keyloft init`` (SQLite), or, with ``--database-url`` (a PostgreSQL database the caller
   made; emptied before each run), ``keyloft init`` against it.
2. Writes ``partners.yaml``: one org (maxClients above the count), two Tills, one extra scope
   entity, and ``--clients`` clients, mixed as partner teams have them: most with a secret,
   every fifth ``private_key_jwt`` with two EC keys, every seventh with a federated rule, some
   with resource patterns, some DPoP-bound.
3. Runs the steps: ``apply`` (everything created), ``apply`` again (everything unchanged: it
   must write no audit event), ``export -o``, ``apply --prune`` of the export (unchanged
   again), then ``apply --prune`` of a file that changes five clients' lifetimes and drops
   five clients. It runs them twice, each time on a fresh store: each step as one ``keyloft``
   process (start-up included, as an operator sees it), then each step inside this process
   (its modules already imported: the work alone).
4. Prints the start-up alone (``keyloft schema``, best of three), each step's two times, the
   audit events it wrote and its plan summary, and the start of the first apply's plan.

It exits non-zero if a step fails, or if a step that must change nothing wrote an audit event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

KEYLOFT = str(Path(sys.executable).parent / "keyloft")


def _jwk(kid: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key)), "kid": kid}


def manifest(clients: int) -> str:
    lines = [
        "version: 1",
        "orgs:",
        "  - name: Partners",
        "    timezone: Europe/Berlin",
        f"    maxClients: {clients + 10}",
        "    maxTokenTtl: 7200",
        "    scopeEntities:",
        "      - {name: Coupons, pattern: '.*/v2/coupons.*'}",
        "    tills:",
        "      - {code: partners.web, name: Web shop}",
        "      - {code: partners.pos, name: Stores}",
        "    clients:",
    ]
    for n in range(1, clients + 1):
        lines += [
            f"      - name: partner-{n:03}",
            f"        description: Integration of partner {n}",
            f"        expirationTokenTime: {600 + 60 * (n % 10)}",
            f"        defaultTill: {'partners.web' if n % 2 else 'partners.pos'}",
            "        scopes:",
            "          - {entity: All, permission: READ}",
        ]
        if n % 3 == 0:
            lines.append(
                "          - {entity: TargetGroups, permission: READWRITE, "
                "resources: ['.*v3/targetGroups.*', '.*v3/audiences.*']}"
            )
        if n % 4 == 0:
            lines.append("          - {entity: Coupons, permission: WRITE}")
        if n % 5 == 0:
            lines.append("        tokenEndpointAuthMethod: private_key_jwt")
            keys = {"keys": [_jwk(f"p{n}-a"), _jwk(f"p{n}-b")]}
            lines.append(f"        jwks: {json.dumps(keys)}")
        if n % 7 == 0:
            lines += [
                "        federatedCredentials:",
                "          - name: deploy",
                "            issuer: https://token.actions.githubusercontent.com",
                f"            subject: repo:partner{n}/app:ref:refs/heads/main",
                f"            claims: {{repository: partner{n}/app}}",
            ]
        if n % 6 == 0:
            lines.append("        dpopBoundAccessTokens: true")
    return "\n".join(lines) + "\n"


def changed(text_: str) -> str:
    """Five lifetimes changed, the last five clients dropped."""
    for n in range(1, 6):
        text_ = text_.replace(
            f"      - name: partner-{n:03}\n        description: Integration of partner {n}\n"
            f"        expirationTokenTime: {600 + 60 * (n % 10)}",
            f"      - name: partner-{n:03}\n        description: Integration of partner {n}\n"
            "        expirationTokenTime: 3600",
        )
    head, _, _ = text_.partition(f"      - name: partner-{_count(text_) - 4:03}\n")
    return head


def _count(text_: str) -> int:
    return text_.count("      - name: partner-")


Executor = Callable[[list[str]], tuple[float, str]]


def in_processes(env: dict[str, str], cwd: Path) -> Executor:
    """Each command as its own ``keyloft`` process, as an operator runs it."""

    def execute(args: list[str]) -> tuple[float, str]:
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 (our own console script)
            [KEYLOFT, *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
        )
        took = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"keyloft {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return took, done.stdout

    return execute


def in_this_process(env: dict[str, str], cwd: Path) -> Executor:
    """Each command run in this process, its modules already imported: the work alone."""
    from typer.testing import CliRunner

    from keyloft.cli.main import app

    runner = CliRunner()
    unset: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("KEYLOFT_")
    }

    def execute(args: list[str]) -> tuple[float, str]:
        os.chdir(cwd)
        started = time.perf_counter()
        done = runner.invoke(app, args, env={**unset, **env})
        took = time.perf_counter() - started
        if done.exit_code != 0:
            sys.exit(f"keyloft {' '.join(args)} failed:\n{done.output}")
        return took, done.stdout

    return execute


def audit_events(env: dict[str, str], cwd: Path) -> int:
    url = env["KEYLOFT_DATABASE_URL"]
    if url.startswith("sqlite:///"):
        path = cwd / url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            (count,) = connection.execute("SELECT count(*) FROM audit_events").fetchone()
        connection.close()
        return int(count)
    return asyncio.run(_postgres(url, "SELECT count(*) FROM audit_events"))


def empty_postgres(url: str) -> None:
    """Every row gone (the schema stays), so that the next run starts as the first did."""
    asyncio.run(
        _postgres(
            url,
            "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables WHERE "
            "schemaname = current_schema() AND tablename <> 'alembic_version' LOOP EXECUTE "
            "'TRUNCATE ' || quote_ident(t) || ' RESTART IDENTITY CASCADE'; END LOOP; END $$",
        )
    )


async def _postgres(url: str, statement: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval(statement) or 0)
    finally:
        await connection.close()


STEPS = [
    ("apply (create)", ["apply", "-f", "partners.yaml"], True),
    ("apply again (unchanged)", ["apply", "-f", "partners.yaml"], False),
    ("export -o", ["export", "--org", "{org}", "-o", "exported.yaml"], False),
    ("apply the export --prune", ["apply", "-f", "exported.yaml", "--prune"], False),
    ("apply --prune (5 updated, 5 dropped)", ["apply", "-f", "changed.yaml", "--prune"], True),
]


def sequence(
    execute: Executor, env: dict[str, str], cwd: Path, clients: int
) -> tuple[list[tuple[float, int, str]], str]:
    """``init``, the manifests, then each step: its time, the audit events it wrote and its
    summary line; and the first apply's plan as printed."""
    execute(["init"])
    file = cwd / "partners.yaml"
    file.write_text(manifest(clients))
    (cwd / "changed.yaml").write_text(changed(file.read_text()))
    rows: list[tuple[float, int, str]] = []
    first_plan, org = "", ""
    for name, args, writes in STEPS:
        args = [arg.replace("{org}", org) for arg in args]
        before = audit_events(env, cwd)
        took, out = execute(args)
        written = audit_events(env, cwd) - before
        if not writes and written:
            sys.exit(f"{name}: wrote {written} audit events; it must write none")
        lines = out.splitlines()
        summary = next((line for line in lines if line.startswith("Plan: ")), lines[-1])
        if not first_plan:
            first_plan = out.split("\n\nNew credentials")[0]
            found = re.search(r"applied \(id (\d+)\)", out)
            assert found is not None, out
            org = found.group(1)
        rows.append((took, written, summary))
    return rows, first_plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--database-url", help="an empty PostgreSQL database, emptied again between the runs"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="keyloft-apply-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYLOFT_")}
    env["KEYLOFT_DATABASE_URL"] = options.database_url or "sqlite:///keyloft.db"
    if options.database_url:
        env["KEYLOFT_SECRET_KEY"] = "bench-server-secret-" + "x" * 40
    keyloft_env = {k: v for k, v in env.items() if k.startswith("KEYLOFT_")}
    try:
        runs: list[list[tuple[float, int, str]]] = []
        for label, make in (("processes", in_processes), ("in-process", in_this_process)):
            cwd = workdir / label
            cwd.mkdir()
            if options.database_url:
                empty_postgres(options.database_url)
            executor = make(env if label == "processes" else keyloft_env, cwd)
            made, plan = sequence(executor, env, cwd, options.clients)
            runs.append(made)
            first_plan = plan
        started = min(in_processes(env, workdir)(["schema"])[0] for _ in range(3))
        store = env["KEYLOFT_DATABASE_URL"].split(":")[0]
        print(
            f"{options.clients} clients, {store}; start-up alone (keyloft schema): {started:.2f} s"
        )
        print(f"  {'step':<38} {'process':>8} {'in-proc':>8}  audit  summary")
        for (name, _, _), (spent, written, summary), (inner, _, _) in zip(
            STEPS, runs[0], runs[1], strict=True
        ):
            print(f"  {name:<38} {spent:7.2f}s {inner:7.2f}s  {written:>+5}  {summary}")
        print("\nThe first apply's plan (abridged):")
        shown = first_plan.splitlines()
        for line in shown[:40]:
            print("  " + line)
        if len(shown) > 40:
            print(f"  … {len(shown) - 40} more lines")
    finally:
        if options.keep:
            print(f"\nkept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

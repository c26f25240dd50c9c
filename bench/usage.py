"""The usage counts' write rate under the load bench's token + check mix, in process.

    .venv/bin/python bench/usage.py                         # SQLite, 100 clients, 60 s, flush 30 s
    .venv/bin/python bench/usage.py --flush-seconds 1       # the rate with a flush every second
    .venv/bin/python bench/usage.py --store postgres        # PostgreSQL (KEYLOFT_TEST_POSTGRES_URL)

One process seeds a store through the real command line and API (`keyloft init`, an org, an
admin, a Till, then `--clients` clients through `POST /v3/integrations/clients`), starts a
real node (`build_runtime`, with its usage flush ticking every `--flush-seconds`, as
`KEYLOFT_USAGE_FLUSH_SECONDS` sets it) and calls its app as an ASGI application through
httpx. `--concurrency` tasks then go round robin over the clients for `--duration` seconds,
each request being, in turn, a v3 token (`POST /v3/oauth/token/generate`) or a decision on
that client's token (`POST /v3/oauth/check`), as the load bench's `token_v3` and `check`
figures send them. Every statement the database driver runs is watched: those that write
`client_usage` are the usage writes. After the run the node is stopped (its last flush
counted), and the figures are printed — requests per second, usage write statements and
their rate, counters per flush — not asserted: the write rate follows the flush interval and
the number of clients used per hour (one statement per 1,000 counters per flush), never the
request rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import httpx  # noqa: E402
from loadbench.seeding import SCOPES, open_store, seed_org  # noqa: E402
from loadbench.wire import basic  # noqa: E402
from sqlalchemy import event  # noqa: E402

from keyloft.config import Settings  # noqa: E402
from keyloft.runtime import build_runtime  # noqa: E402
from keyloft.web.app import create_app  # noqa: E402

ISSUER = "http://keyloft.bench"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--flush-seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=16)
    return parser.parse_args()


async def make_clients(http: httpx.AsyncClient, admin: str, till_id: int, count: int) -> list[Any]:
    made = []
    for n in range(count):
        body = {
            "name": f"usage-bench-{n}",
            "description": "usage bench",
            "expirationTokenTime": 3600,
            "defaultTillId": till_id,
            "scopes": SCOPES,
        }
        answer = await http.post(
            "/v3/integrations/clients", json=body, headers={"Authorization": admin}
        )
        answer.raise_for_status()
        made.append(answer.json()["data"])
    return made


async def run(args: argparse.Namespace, env: dict[str, str]) -> None:
    made = seed_org(env, clients=args.clients)
    settings = Settings(
        database_url=env["KEYLOFT_DATABASE_URL"],
        secret_key=env["KEYLOFT_SECRET_KEY"],
        issuer=env["KEYLOFT_ISSUER"],
        log_level="WARNING",
        usage_flush_seconds=args.flush_seconds,
        _env_file=None,
    )
    runtime = await build_runtime(settings)
    writes: list[float] = []
    counters: list[int] = []

    def watch(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        if "client_usage" in statement and statement.lstrip().upper().startswith("INSERT"):
            writes.append(time.monotonic())
            counters.append(len(params) // 6 if isinstance(params, list | tuple) else 0)

    engine = runtime.database.engine.sync_engine
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        clients = await make_clients(http, basic(*made.admin), made.till_id, args.clients)
        tokens: dict[str, str] = {}
        await runtime.flush_usage()  # the seeding's own counts are not the run's
        event.listen(engine, "before_cursor_execute", watch)
        started = time.monotonic()
        deadline = started + args.duration
        done = {"token": 0, "check": 0, "failed": 0}

        async def worker(offset: int) -> None:
            n, mint = offset, True
            while time.monotonic() < deadline:
                # A request served from memory never suspends its task; a server would, on
                # its socket: let the node's tickers (the usage flush) run as they would.
                await asyncio.sleep(0)
                client = clients[n % len(clients)]
                key = client["clientKey"]
                n, mint = n + args.concurrency, not mint
                token = tokens.get(key)
                if token is None or mint:
                    answer = await http.post(
                        "/v3/oauth/token/generate",
                        json={"key": key, "secret": client["clientSecret"]},
                    )
                    kind = "token"
                    if answer.status_code == 200:
                        tokens[key] = answer.json()["data"]["accessToken"]
                else:
                    answer = await http.post(
                        "/v3/oauth/check",
                        json={"token": token, "method": "GET", "path": "/v3/customers"},
                    )
                    kind = "check"
                done[kind if answer.status_code == 200 else "failed"] += 1

        await asyncio.gather(*(worker(n) for n in range(args.concurrency)))
        elapsed = time.monotonic() - started
    await runtime.close()  # its last flush is counted too
    event.remove(engine, "before_cursor_execute", watch)
    requests = done["token"] + done["check"]
    print(
        f"store={args.store} clients={args.clients} duration={elapsed:.1f}s "
        f"flush={args.flush_seconds:g}s concurrency={args.concurrency}"
    )
    print(
        f"requests: {requests} ({requests / elapsed:.0f}/s): {done['token']} tokens, "
        f"{done['check']} checks, {done['failed']} failed"
    )
    print(
        f"usage write statements: {len(writes)} in {elapsed:.1f}s = "
        f"{len(writes) / elapsed:.3f}/s (the last one at the node's stop); "
        f"counters per statement: {counters}"
    )


def main() -> None:
    args = options()
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="usage-bench-")))
        store = stack.enter_context(open_store(args.store, workdir, None))
        asyncio.run(run(args, store.env))


if __name__ == "__main__":
    main()

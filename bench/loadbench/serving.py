"""``keyloft serve`` under measurement: each figure measured against a fresh server with
the run's workers, and ``--hold``, which keeps one up for a load generator run elsewhere."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from loadbench.figures import keyloft_figures, mint_tokens
from loadbench.processes import Server
from loadbench.seeding import Seed
from loadbench.wrk import Options, Result, measure


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
    """Every figure (or those ``only`` names); returns them and the workers' resident memory
    before and after the load."""
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

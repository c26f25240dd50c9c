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
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The benchmark's parts (loadbench, scale_seed) and the test helpers that seed (tests.*).
sys.path[:0] = [str(HERE), str(HERE.parent)]

from loadbench.ceilings import hello_ceilings, resource_rate, signing_ceilings  # noqa: E402
from loadbench.options import BULK_ABOVE, names, parse, redis_url  # noqa: E402
from loadbench.peer import peer_figures  # noqa: E402
from loadbench.processes import ensure_wrk  # noqa: E402
from loadbench.profiles import print_profile  # noqa: E402
from loadbench.report import Report, print_header, print_rss, print_scale  # noqa: E402
from loadbench.seeding import Seed, Store, open_store, seed_store  # noqa: E402
from loadbench.serving import hold, run_keyloft  # noqa: E402
from loadbench.wrk import Options, Result  # noqa: E402


@dataclass(frozen=True)
class Run:
    """What every part of one bench run shares."""

    options: argparse.Namespace
    wrk: str
    o: Options
    workdir: Path
    report: Report


def measure_ceilings(run: Run) -> None:
    signing = signing_ceilings(2.0)
    rate = resource_rate(3.0)
    run.report.signing(signing, run.options.algorithm, rate)
    hello = hello_ceilings(run.wrk, run.options.workers, run.o, run.workdir)
    run.report.lines(hello, keep=True)


def measure_peer(run: Run, peer_dir: Path) -> None:
    print_header("oidc-provider (same run)")
    run.report.lines(peer_figures(run.wrk, peer_dir.resolve(), run.o, run.workdir), keep=True)


def measure_keyloft(
    run: Run,
    env: dict[str, str],
    seed: Seed,
    driven: Sequence[tuple[str, str]],
    tag: str,
    label: str,
) -> list[Result]:
    """Every figure against a fresh ``keyloft serve``, printed with the workers' memory and
    any profiles taken."""
    options = run.options
    results, before, after = run_keyloft(
        run.wrk,
        env,
        seed,
        driven,
        options.workers,
        names(options.only),
        run.o,
        run.workdir,
        tag,
        names(options.profile),
    )
    print_header(f"keyloft ({label})")
    run.report.lines(results)
    print_rss(label, before, after)
    for result in results:
        if result.profile is not None and result.profile.exists():
            print_profile(result.profile)
    return results


def measure_at_scale(
    run: Run, store: Store, seed: Seed, driven: Sequence[tuple[str, str]]
) -> list[Result]:
    """Bulk-add clients up to --clients (PostgreSQL), then measure again, driving half the
    clients from the API and half of the bulk-added ones."""
    from scale_seed import bulk_seed

    options = run.options
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
    return measure_keyloft(run, store.env, seed, scaled_driven, "scale", label)


def seed_and_measure(run: Run, store: Store) -> bool:
    """Seed the store, then measure Keyloft on it (first with 100 clients under
    --compare-scale); False when --hold served it instead."""
    options = run.options
    first = 100 if options.compare_scale else min(options.clients, BULK_ABOVE)
    seed = seed_store(store.env, first, run.workdir)
    driven = seed.clients[: options.spread]
    if options.hold:
        hold(store.env, seed, options.workers, run.workdir)
        return False
    results: list[Result] = []
    if options.compare_scale or options.clients <= BULK_ABOVE:
        label = f"{options.store}, {first} clients"
        results = measure_keyloft(run, store.env, seed, driven, "small", label)
    if options.clients > BULK_ABOVE:
        scaled = measure_at_scale(run, store, seed, driven)
        if results:
            print_scale(options.clients, results, scaled)
    return True


def main() -> None:
    options = parse(__doc__.splitlines()[0])
    wrk = ensure_wrk()
    o = Options(
        options.duration, options.runs, options.warmup, options.connections, options.threads
    )
    started = time.monotonic()
    redis = redis_url(options)
    print(
        f"Keyloft bench: store={options.store}{' + redis' if redis else ''} "
        f"clients={options.clients} alg={options.algorithm} workers={options.workers} "
        f"wrk -t{o.threads} -c{o.connections} "
        f"{o.runs}x{o.duration:g}s (warm-up {o.warmup:g}s) cores={os.cpu_count()} "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="keyloft-bench-"))
    run = Run(options, wrk, o, workdir, Report(options.algorithm))
    try:
        if not options.no_ceilings:
            measure_ceilings(run)
        if options.peer is not None:
            measure_peer(run, options.peer)
        with open_store(options.store, workdir, redis, options.algorithm) as store:
            if not seed_and_measure(run, store):
                return
    finally:
        if options.keep:
            print(f"working directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nbench took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()

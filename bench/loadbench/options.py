"""The command line of bench/run.py, its BENCH_* environment defaults, and the Redis
server a run uses."""

from __future__ import annotations

import argparse
import os
import random
import re
from pathlib import Path

DEFAULT_REDIS = "redis://127.0.0.1:6379"
BULK_ABOVE = 1000


def _env_number(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def parse(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
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


def names(text: str) -> set[str] | None:
    """A comma-separated list of figure names; None for none."""
    return {name.strip() for name in text.split(",") if name.strip()} or None


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

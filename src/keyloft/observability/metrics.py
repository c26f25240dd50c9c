"""Prometheus metrics of a node, all named ``keyloft_…``, and their exposition.

Each app gets its own registry, so two apps in one process (tests, benches) never share
counts. Under several worker processes (``keyloft serve --workers N``) prometheus_client's
multiprocess mode is used: every worker writes its values to files in a shared directory, and
whichever worker answers a scrape reports the sum over all of them. Gauges that describe a
worker's own state (pool, cache size) are then refreshed by its requests at most once a
second, and when it answers a scrape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from keyloft.storage.engine import PoolUsage

TOKEN_ENDPOINTS = ("v3", "oauth2")
AUTH_FAILURE_KINDS = ("client", "login", "token")
NODE_REFRESH_SECONDS = 1.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class NodeState:
    """What a worker knows about itself: client-cache lookups so far and its DB pool."""

    cache_hits: int
    cache_misses: int
    cache_entries: int
    pool: PoolUsage | None


class Metrics:
    def __init__(self, *, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "keyloft_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "keyloft_http_request_duration_seconds",
            "Time from a request's arrival to its last byte, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens_issued = Counter(
            "keyloft_tokens_issued_total",
            "Access tokens issued, by endpoint (v3 or oauth2).",
            ["endpoint"],
            registry=registry,
        )
        self.tokens_refused = Counter(
            "keyloft_tokens_refused_total",
            "Token requests refused, by endpoint and reason.",
            ["endpoint", "reason"],
            registry=registry,
        )
        self.auth_failures = Counter(
            "keyloft_auth_failures_total",
            "Requests refused for their credentials: client (key and secret), login (Basic) "
            "or token (access token).",
            ["kind"],
            registry=registry,
        )
        self.cache_lookups = Counter(
            "keyloft_cache_lookups_total",
            "Client-state cache lookups, by result (hit or miss).",
            ["result"],
            registry=registry,
        )
        self.cache_entries = Gauge(
            "keyloft_cache_entries",
            "Clients held in the client-state cache.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "keyloft_db_pool_size",
            "Database connections the pool keeps.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_checked_out = Gauge(
            "keyloft_db_pool_checked_out",
            "Database connections in use.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_overflow = Gauge(
            "keyloft_db_pool_overflow",
            "Database connections open beyond the pool size.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        # Series that exist from the start, so that rates and ratios are defined at once.
        for endpoint in TOKEN_ENDPOINTS:
            self.tokens_issued.labels(endpoint)
        for kind in AUTH_FAILURE_KINDS:
            self.auth_failures.labels(kind)
        for result in ("hit", "miss"):
            self.cache_lookups.labels(result)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._seen_hits = 0
        self._node_at = float("-inf")
        self._seen_misses = 0

    @property
    def multiprocess(self) -> bool:
        return self.multiprocess_dir is not None

    def _child(self, metric: Any, *values: str) -> Any:
        # ``labels`` validates and locks on every call; the series themselves are few (route
        # templates, statuses, fixed reasons), so each is looked up once per process.
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self.requests, method, route, str(status)).inc()
        self._child(self.duration, method, route).observe(seconds)

    def token_issued(self, endpoint: str) -> None:
        self._child(self.tokens_issued, endpoint).inc()

    def token_refused(self, endpoint: str, reason: str) -> None:
        self._child(self.tokens_refused, endpoint, reason).inc()

    def auth_failure(self, kind: str) -> None:
        self._child(self.auth_failures, kind).inc()

    def node_due(self, now: float) -> bool:
        """True at most once per ``NODE_REFRESH_SECONDS``: time to call ``node`` again."""
        if now - self._node_at < NODE_REFRESH_SECONDS:
            return False
        self._node_at = now
        return True

    def node(self, state: NodeState) -> None:
        """Bring the cache and pool series up to ``state`` (counters move by the difference)."""
        if state.cache_hits > self._seen_hits:
            self.cache_lookups.labels("hit").inc(state.cache_hits - self._seen_hits)
        if state.cache_misses > self._seen_misses:
            self.cache_lookups.labels("miss").inc(state.cache_misses - self._seen_misses)
        self._seen_hits = max(self._seen_hits, state.cache_hits)
        self._seen_misses = max(self._seen_misses, state.cache_misses)
        self.cache_entries.set(state.cache_entries)
        if state.pool is not None:
            self.pool_size.set(state.pool.size)
            self.pool_checked_out.set(state.pool.checked_out)
            self.pool_overflow.set(state.pool.overflow)

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type: all workers' values in multiprocess
        mode, this app's otherwise."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        merged = CollectorRegistry()
        # prometheus_client leaves its multiprocess helpers unannotated.
        prometheus_multiprocess.MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(merged), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """A worker that stops takes its own gauges out of the sums."""
        if self.multiprocess_dir is not None:
            prometheus_multiprocess.mark_process_dead(os.getpid(), str(self.multiprocess_dir))  # type: ignore[no-untyped-call]

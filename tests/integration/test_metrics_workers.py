"""A real ``keyloft serve --workers 2``: a scrape answered by either worker counts the requests
of both, and every line the node writes is a JSON object."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.nodes import Node, free_port, keyloft, stop, wait_ready

pytestmark = pytest.mark.slow
LIVE = "/health/live"


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Node]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KEYLOFT_")},
        "KEYLOFT_DATABASE_URL": f"sqlite:///{tmp_path}/keyloft.db",
        "KEYLOFT_SECRET_KEY": "metrics-secret-" + secrets.token_urlsafe(32),
        "KEYLOFT_LOG_LEVEL": "INFO",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    keyloft(env, "init")
    port = free_port()
    log = tmp_path / "node.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "keyloft", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    node = Node(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_ready(node, within=60)
        yield node
    finally:
        stop([node])


def log_lines(node: Node) -> list[dict[str, Any]]:
    return [json.loads(row) for row in node.log.read_text().splitlines() if row.strip()]


def live_pids(node: Node) -> set[int]:
    return {
        line["pid"]
        for line in log_lines(node)
        if line["logger"] == "keyloft.access" and line.get("path") == LIVE
    }


def live_count(node: Node) -> float:
    # A fresh connection each time, so that either worker may answer.
    text = httpx.get(f"{node.url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "keyloft_http_requests_total"
                and labels.get("route") == LIVE
                and labels.get("status") == "200"
            ):
                return sample.value
    return 0.0


def test_scrapes_add_up_the_counts_of_every_worker(two_workers: Node) -> None:
    node = two_workers
    sent = 0
    deadline = time.monotonic() + 60
    # Until both workers have answered some: each request on a connection of its own.
    while len(live_pids(node)) < 2:
        assert time.monotonic() < deadline, "one worker answered every request"
        for _ in range(10):
            assert httpx.get(f"{node.url}{LIVE}", timeout=5).status_code == 200
            sent += 1
        # The access line is written as the answer goes out: wait until all are there.
        while (
            sum(
                1
                for line in log_lines(node)
                if line["logger"] == "keyloft.access" and line.get("path") == LIVE
            )
            < sent
        ):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert len(live_pids(node)) == 2
    counts = [live_count(node) for _ in range(8)]
    assert counts == [sent] * 8

    lines = log_lines(node)
    assert {line["level"] for line in lines} <= {"DEBUG", "INFO", "WARNING"}
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    scrapes = [
        line
        for line in lines
        if line["logger"] == "keyloft.access" and line.get("route") == "/metrics"
    ]
    assert len(scrapes) == 8
    assert all(line["request_id"] for line in scrapes)

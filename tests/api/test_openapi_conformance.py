"""OpenAPI conformance: schemathesis with every check, a fixed seed and a bounded number of
examples against a live ``keyloft serve`` on SQLite, once as the demo admin over HTTP Basic
(with the stateful phase, which must follow the document's links from a client it created) and
once with a client's access token as ``Authorization: Bearer``. Each credential goes only to
the operations that declare its security scheme. Any schemathesis failure fails the test, with
the failures listed, the errors the node logged and schemathesis's report; so does a run that
tested nothing (no operation, no case, credentials refused, no link followed).

This file owns the runs and what they must show; the settings are in
tests/api/schemathesis.toml, the node and the command in ``tests.support.schemathesis_run``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.schemathesis_run import (
    LiveNode,
    Run,
    Table,
    basic_auth,
    bearer_auth,
    configured_seed,
    create_client,
    live_node,
    mint_token,
    node_errors,
    run_schemathesis,
)

pytestmark = pytest.mark.slow

STATELESS = ("examples", "coverage", "fuzzing")
MANAGEMENT = " /v3/integrations/"
CLIENTS = "/v3/integrations/clients"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[LiveNode]:
    with live_node(tmp_path) as served:
        yield served


def problems(run: Run) -> list[str]:
    """What makes the run fail, besides schemathesis's own exit code: the fixed seed not
    used, no operation or no case tested, the management API refusing the credentials."""
    found = []
    if run.report.get("seed") != configured_seed():
        found.append(f"seed {run.report.get('seed')}, not the configured {configured_seed()}")
    operations = run.report.get("operations", {})
    if not operations.get("tested") or operations["tested"] != operations.get("selected"):
        found.append(f"operations tested: {operations}")
    if not run.report.get("test_cases", {}).get("generated"):
        found.append("no test case generated")
    refused = [
        label
        for label in run.report.get("warnings", {}).get("missing_auth", [])
        if MANAGEMENT in label
    ]
    if refused:
        found.append(f"the credentials were refused by {refused}")
    return found


def assert_conformant(run: Run, node: LiveNode, more: list[str] | None = None) -> None:
    """No schemathesis failure and none of ``problems`` or ``more``; else fail with them, the
    failures one a line, the errors the node logged and the tail of schemathesis's output."""
    print(run.describe())
    assert run.report, f"schemathesis wrote no JSON report\n{run.failure_report}"
    found = problems(run) + (more or [])
    if run.exit_code == 0 and not found:
        return
    listed = "\n".join(f"  - {failure}" for failure in run.failures) or "  (none)"
    wrong = "\n".join(f"  - {problem}" for problem in found) or "  (none)"
    logged = "\n".join(f"  - {error}" for error in node_errors(node)) or "  (none)"
    pytest.fail(
        f"schemathesis [{run.label}] exited with {run.exit_code}; failures:\n{listed}\n"
        f"besides:\n{wrong}\nerrors the node logged:\n{logged}\n\n{run.failure_report}",
        pytrace=False,
    )


def stateful_problems(run: Run) -> list[str]:
    """The stateful phase ran, and followed a link from a client it created (POST
    /v3/integrations/clients answered 2xx, then a call on that client)."""
    found = []
    if run.report.get("phases", {}).get("stateful", {}).get("status") in (None, "skip"):
        found.append(f"the stateful phase did not run: {run.report.get('phases')}")
    if run.stateful_scenarios == 0:
        found.append("the stateful phase ran no scenario")
    covered, selected = run.links_covered
    if covered == 0:
        found.append(f"the stateful phase followed none of {selected} links")
    created = [
        link
        for link in run.links
        if link.startswith(f"POST {CLIENTS} 2") and f" {CLIENTS}/{{clientKey}}" in link
    ]
    if not created:
        found.append(
            f"the stateful phase followed no link from a client it created (POST {CLIENTS} "
            "answered 2xx, then a call on that client); see the links it followed above"
        )
    return found


def test_as_the_admin_with_basic_and_stateful_links(node: LiveNode, tmp_path: Path) -> None:
    username, password = node.admin
    run = run_schemathesis(
        node,
        tmp_path,
        label="admin-basic",
        phases=(*STATELESS, "stateful"),
        tables=(basic_auth(username, password),),
    )
    assert_conformant(run, node, stateful_problems(run))


def test_as_a_client_with_its_access_token(node: LiveNode, tmp_path: Path) -> None:
    caller = create_client(node, "schemathesis-caller")
    target = create_client(node, "schemathesis-target")
    run = run_schemathesis(
        node,
        tmp_path,
        label="client-bearer",
        phases=STATELESS,
        tables=(
            bearer_auth(mint_token(node, caller)),
            # Every {clientKey} is the target's: with the keys it reads from the clients' list,
            # schemathesis would delete or narrow the caller itself, and from then on every
            # call would be refused (401) and test nothing.
            Table("parameters", {"path.clientKey": target["clientKey"]}),
        ),
    )
    assert_conformant(run, node)

"""The console in a real browser: Debian's Chromium driven by Playwright against a real
``keyloft serve`` process. Without Chromium the tests are skipped with the reason — except
under CI (CI=true), where that is a failure.

Screenshots go to the test run's temporary directory; with KEYLOFT_CONSOLE_SCREENSHOTS=1
(``make screenshots``) they replace the ones in docs/console/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.nodes import Deployment, deployment, keyloft
from tests.support.browser import DESKTOP
from tests.support.ci import unavailable

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"the playwright package is missing: {exc}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One ``keyloft serve`` on its own SQLite store, with an org, its admin and two Tills:
    the deployment's and a named one."""
    workdir = tmp_path_factory.mktemp("console-e2e")
    with deployment(f"sqlite:///{workdir}/keyloft.db", None, workdir, nodes=1) as running:
        keyloft(
            running.env,
            "till",
            "create",
            "--org",
            str(running.org_id),
            "--code",
            "front-desk",
            "--name",
            "Front desk",
            "--json",
        )
        yield running


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots are written: docs/console/ when asked for, else a temporary one."""
    if os.environ.get("KEYLOFT_CONSOLE_SCREENSHOTS") == "1":
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(browser: Any, server: Deployment) -> Iterator[Any]:
    """A fresh browser profile (no cookies) at desktop width, allowed to use the clipboard."""
    context = browser.new_context(viewport=DESKTOP, base_url=server.nodes[0].url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.nodes[0].url)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()

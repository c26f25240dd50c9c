"""Outside services a test needs (PostgreSQL, Redis, Chromium): without one a test is skipped
with the reason, except under CI (CI=true), where that is a failure, so it can never be
skipped silently there."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)

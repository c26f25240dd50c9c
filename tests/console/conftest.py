"""Helpers for the console's server-side tests: reading tokens out of pages, signing in."""

from __future__ import annotations

import os
import re
from html import unescape

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import BASE_URL, Login

SIGN_IN = "/console/sign-in"
CLIENTS = "/console/clients"
ORIGIN = {"Origin": BASE_URL}
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_url() -> str:
    """The test Redis server; skipped without one, except under CI where that fails."""
    url = os.environ.get("KEYLOFT_TEST_REDIS_URL", DEFAULT_REDIS)
    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:  # redis-py raises its own ConnectionError, not OSError
        reason = f"Redis not reachable at {url}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        await client.aclose()
    return url


def field_value(html: str, name: str) -> str:
    """The value of the (first) input named ``name`` in a page."""
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert found is not None, f"no field {name!r} in page"
    return unescape(found.group(1))


def csrf_token(html: str) -> str:
    return field_value(html, "csrf_token")


def error_for(html: str, field: str) -> str | None:
    """The error shown next to ``field``, if any."""
    found = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', html)
    return unescape(found.group(1)) if found else None


async def sign_in(http: httpx.AsyncClient, login: Login) -> str:
    """Sign in through the form; returns the CSRF token of the new session."""
    form = await http.get(SIGN_IN)
    answer = await http.post(
        SIGN_IN,
        data={
            "csrf_token": csrf_token(form.text),
            "username": login.code,
            "password": login.password,
        },
        headers=ORIGIN,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == CLIENTS
    page = await http.get(CLIENTS)
    assert page.status_code == 200
    return csrf_token(page.text)


def client_form(
    till_id: int,
    token: str,
    *,
    name: str = "orders-sync",
    ttl: str = "600",
    access: dict[int, str] | None = None,
    resources: dict[int, str] | None = None,
) -> dict[str, str]:
    """The fields the create or edit form sends."""
    fields = {
        "csrf_token": token,
        "name": name,
        "description": "Nightly order export",
        "expirationTokenTime": ttl,
        "defaultTillId": str(till_id),
    }
    chosen = access if access is not None else {1: "READWRITE", 2: "READ", 3: "NONE"}
    for entity, value in chosen.items():
        fields[f"access-{entity}"] = value
        fields[f"resources-{entity}"] = (resources or {}).get(entity, "")
    return fields

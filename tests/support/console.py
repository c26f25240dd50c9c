"""The console's server-side pages: reading tokens and errors out of them, signing in, and
the fields its client form sends."""

from __future__ import annotations

import re
from html import unescape

import httpx

from tests.support.api import BASE_URL, Login

SIGN_IN = "/console/sign-in"
CLIENTS = "/console/clients"
ORIGIN = {"Origin": BASE_URL}


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

"""Keyloft's figures: the requests each one sends, round robin over the driven clients and
the tokens minted for them, and the check its answers must pass."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from loadbench.seeding import Seed
from loadbench.wire import FORM_CT, JSON_CT, Request, active, allowed, basic, has_data, has_token

CHECKED_CALL = {"method": "GET", "path": "/v3/targetGroups/7"}

Figures = dict[str, tuple[list[Request], Callable[..., bool]]]


@dataclass
class Driven:
    """The clients a run drives, each with a v3 token and an OAuth token."""

    clients: list[tuple[str, str]]
    v3_tokens: list[str]
    oauth_tokens: list[str]


def mint_tokens(url: str, clients: Sequence[tuple[str, str]]) -> Driven:
    v3, oauth = [], []
    with httpx.Client(base_url=url, timeout=30) as http:
        for key, secret in clients:
            answer = http.post("/v3/oauth/token/generate", json={"key": key, "secret": secret})
            answer.raise_for_status()
            v3.append(answer.json()["data"]["accessToken"])
            answer = http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": basic(key, secret)},
            )
            answer.raise_for_status()
            oauth.append(answer.json()["access_token"])
    return Driven(list(clients), v3, oauth)


def keyloft_figures(d: Driven, seed: Seed) -> Figures:
    pairs = list(zip(d.clients, d.v3_tokens, d.oauth_tokens, strict=True))
    return {
        "token_v3": (
            [
                ("POST", "/v3/oauth/token/generate", json.dumps({"key": k, "secret": s}), JSON_CT)
                for (k, s), _, _ in pairs
            ],
            has_token,
        ),
        "token_oauth2": (
            [
                (
                    "POST",
                    "/oauth2/token",
                    "grant_type=client_credentials",
                    {**FORM_CT, "Authorization": basic(k, s)},
                )
                for (k, s), _, _ in pairs
            ],
            has_token,
        ),
        "check": (
            [
                ("POST", "/v3/oauth/check", json.dumps({"token": t, **CHECKED_CALL}), JSON_CT)
                for _, t, _ in pairs
            ],
            allowed,
        ),
        "check_get": (
            [
                (
                    "GET",
                    "/v3/oauth/check",
                    "",
                    {
                        "Authorization": f"Bearer {t}",
                        "X-Original-Method": CHECKED_CALL["method"],
                        "X-Original-URI": CHECKED_CALL["path"],
                    },
                )
                for _, t, _ in pairs
            ],
            lambda answer: answer.status_code == 200,
        ),
        "list_token": (
            [
                ("GET", "/v3/integrations/clients", "", {"X-CAP-API-OAUTH-TOKEN": t})
                for _, t, _ in pairs
            ],
            has_data,
        ),
        "list_basic": (
            [("GET", "/v3/integrations/clients", "", {"Authorization": basic(*seed.admin)})],
            has_data,
        ),
        "get_token": (
            [
                ("GET", f"/v3/integrations/clients/{k}", "", {"X-CAP-API-OAUTH-TOKEN": t})
                for (k, _), t, _ in pairs
            ],
            has_data,
        ),
        "introspect": (
            [
                (
                    "POST",
                    "/oauth2/introspect",
                    f"token={o}",
                    {**FORM_CT, "Authorization": basic(k, s)},
                )
                for (k, s), _, o in pairs
            ],
            active,
        ),
    }

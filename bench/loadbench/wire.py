"""What the figures send and what their answers must show: a request's fields, content
types, Basic credentials, and the checks each figure's first answers must pass."""

from __future__ import annotations

import base64
from typing import Any

import httpx

Request = tuple[str, str, str, dict[str, str]]  # method, path, body, headers

JSON_CT = {"Content-Type": "application/json", "Accept": "application/json"}
FORM_CT = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def has_token(answer: httpx.Response) -> bool:
    body = _json(answer) or {}
    data = body.get("data") or {}
    return bool(data.get("accessToken") or body.get("access_token"))


def allowed(answer: httpx.Response) -> bool:
    return ((_json(answer) or {}).get("data") or {}).get("allowed") is True


def active(answer: httpx.Response) -> bool:
    return (_json(answer) or {}).get("active") is True


def has_data(answer: httpx.Response) -> bool:
    return bool((_json(answer) or {}).get("data"))


def hello_ok(answer: httpx.Response) -> bool:
    return "hello" in (_json(answer) or {})

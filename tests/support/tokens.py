"""Hand-built token parts for signing tests: plain claims and base64url segments."""

from __future__ import annotations

import base64
import time
from typing import Any

ISSUER = "http://issuer.test"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "client-key",
        "iat": now,
        "exp": now + 300,
        "jti": "jti-1",
    }
    claims.update(overrides)
    return claims


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

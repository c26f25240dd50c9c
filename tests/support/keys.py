"""Signing keys in tests: rotating a node's key as an operator would, and reading a token's kid."""

from __future__ import annotations

import jwt

from keyloft.domain.signing import SigningKey
from keyloft.runtime import Runtime
from keyloft.services.clock import SystemClock
from keyloft.services.keys import rotate_signing_key
from tests.support.api import OPERATOR


async def rotate(runtime: Runtime, delay: float) -> SigningKey:
    async with runtime.database.unit_of_work(write=True) as store:
        key = await rotate_signing_key(
            store, runtime.server_keys, SystemClock().now(), delay, operator=OPERATOR
        )
        assert store.changes.keys is True
    return key


def kid(token: str) -> str:
    found: str = jwt.get_unverified_header(token)["kid"]
    return found

"""A client's cached state, as the hot paths keep it, for tests of the caches built on it."""

from __future__ import annotations

from datetime import UTC, datetime

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.clients import Client
from keyloft.services.ports import ClientState


def state(client_id: int, key: str | None = None) -> ClientState:
    actor = Principal(1, 1, PrincipalKind.ADMIN_USER, "admin", "Admin")
    now = datetime.now(UTC)
    client = Client(
        id=client_id,
        org_id=1,
        client_key=key or f"key{client_id}",
        name=f"c{client_id}",
        description="",
        expiration_token_time=60,
        default_till_id=2,
        is_valid=True,
        grants=(),
        created_on=now,
        last_updated_on=now,
        created_by=actor,
        last_updated_by=actor,
    )
    return ClientState(client, "kl1$hmac-sha256$" + "0" * 64, (), None)

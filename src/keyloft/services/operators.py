"""What an operator does at the command line, inside one unit of work: orgs with their admins,
Tills and scope entities, the orgs' settings, the accounts of admins and Tills, the signing
keys, and reading the audit trail. Every change is recorded in the audit trail under the
operator's name."""

from __future__ import annotations

from dataclasses import dataclass

from keyloft.domain.audit import Operator
from keyloft.domain.signing import SigningKey
from keyloft.services.audit import AuditService
from keyloft.services.keys import (
    KeyStatus,
    ServerKeys,
    list_signing_keys,
    retire_signing_key,
    rewrap_signing_keys,
    rotate_signing_key,
)
from keyloft.services.org_settings import OrgSettings
from keyloft.services.orgs import OrgService
from keyloft.services.ports import Clock, Store
from keyloft.services.principals import PrincipalAdministration
from keyloft.services.webhook_secrets import WebhookSecrets, rewrap_webhook_secrets


class SigningKeyAdministration:
    def __init__(
        self, store: Store, clock: Clock, operator: Operator, *, token_lifetime: float
    ) -> None:
        self._store = store
        self._clock = clock
        self._operator = operator
        self._token_lifetime = token_lifetime

    async def count(self) -> int:
        return len(await self._store.keys.list())

    async def statuses(self) -> list[KeyStatus]:
        """Every key with its phase now, oldest first."""
        return await list_signing_keys(
            self._store, self._clock.now(), token_lifetime=self._token_lifetime
        )

    async def rotate(self, server_keys: ServerKeys, delay: float, algorithm: str) -> SigningKey:
        """A new key, published now and signing after ``delay`` seconds."""
        return await rotate_signing_key(
            self._store,
            server_keys,
            self._clock.now(),
            delay,
            operator=self._operator,
            algorithm=algorithm,
        )

    async def retire(self, kid: str) -> KeyStatus:
        """Stop ``kid`` signing now; its status afterwards."""
        await retire_signing_key(self._store, kid, self._clock.now(), operator=self._operator)
        return next(status for status in await self.statuses() if status.kid == kid)

    async def rewrap(self, current: ServerKeys, previous: list[ServerKeys]) -> list[str]:
        """Seal every key under ``current``; the kids of those sealed under a previous one."""
        return await rewrap_signing_keys(
            self._store, current, previous, operator=self._operator, now=self._clock.now()
        )

    async def rewrap_webhook_secrets(
        self, current: ServerKeys, previous: list[ServerKeys]
    ) -> list[int]:
        """Seal every webhook signing secret under ``current``; the ids of those moved."""
        return await rewrap_webhook_secrets(self._store, WebhookSecrets(current, previous))


@dataclass(frozen=True, slots=True)
class OperatorServices:
    orgs: OrgService
    audit: AuditService
    keys: SigningKeyAdministration
    org_settings: OrgSettings
    principals: PrincipalAdministration

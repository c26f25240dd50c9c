"""Operator use cases on existing orgs: list them with what they use, and change an org's
name, time zone and limits. A limit lowered below what the org's active clients use is
refused (``LimitBelowUse``) unless forced; the change is audited under the operator's name
and announced, so every node drops the copies it holds of the org."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyloft.domain.audit import Operator, diff
from keyloft.domain.errors import Conflict, NotFound, ValidationFailed
from keyloft.domain.governance import check_secret_lifetime
from keyloft.domain.orgs import LimitBelowUse, Org, check_limits_cover_use, check_org_limits
from keyloft.domain.timefmt import check_timezone
from keyloft.services.ports import Clock, Store


@dataclass(frozen=True, slots=True)
class OrgUse:
    org: Org
    active_clients: int


def org_fields(org: Org) -> dict[str, Any]:
    """An org as commands print it and the audit trail diffs it."""
    return {
        "name": org.name,
        "timezone": org.timezone,
        "maxClients": org.max_clients,
        "maxTokenTtl": org.max_token_ttl,
        "secretLifetime": org.secret_lifetime,
    }


class OrgSettings:
    def __init__(self, store: Store, clock: Clock, *, operator: Operator) -> None:
        self._store = store
        self._clock = clock
        self._operator = operator

    async def list(self) -> list[OrgUse]:
        """Every org in id order, with its count of active clients."""
        return [
            OrgUse(org, await self._store.clients.count_valid(org.id))
            for org in await self._store.orgs.list()
        ]

    async def update(
        self,
        org_id: int,
        *,
        ttl_ceiling: int,
        name: str | None = None,
        timezone: str | None = None,
        max_clients: int | None = None,
        max_token_ttl: int | None = None,
        force: bool = False,
        secret_lifetime: int | None = None,
    ) -> Org:
        """The org with the given fields changed (those not given stay). Lowering a limit
        below the active clients' use needs ``force``; they are then left as they are.
        ``secret_lifetime``: seconds new and rotated secrets live by default (0: forever)."""
        asked = (name, timezone, max_clients, max_token_ttl, secret_lifetime)
        if all(value is None for value in asked):
            raise ValidationFailed(
                "Nothing to change: give a name, time zone, limit or secret lifetime."
            )
        check_secret_lifetime(secret_lifetime, "secretLifetime")
        await self._store.orgs.lock(org_id)  # no client is created or changed meanwhile
        org = await self._store.orgs.get(org_id)
        if org is None:
            raise NotFound(f"No org with id {org_id}.")
        if name is not None:
            if not 1 <= len(name.strip()) <= 200:
                raise ValidationFailed("org name must be 1 to 200 characters.", field="name")
            taken = await self._store.orgs.find_by_name(name)
            if taken is not None and taken.id != org.id:
                raise Conflict(f"An org named {name!r} already exists.")
        if timezone is not None:
            check_timezone(timezone)
        changed = Org(
            org.id,
            org.name if name is None else name,
            org.timezone if timezone is None else timezone,
            org.max_clients if max_clients is None else max_clients,
            org.max_token_ttl if max_token_ttl is None else max_token_ttl,
            org.secret_lifetime if secret_lifetime is None else (secret_lifetime or None),
        )
        check_org_limits(changed.max_clients, changed.max_token_ttl, ttl_ceiling)
        forced = False
        if changed.max_clients < org.max_clients or changed.max_token_ttl < org.max_token_ttl:
            active = await self._store.clients.list(org.id, include_invalid=False)
            lifetimes = [client.expiration_token_time for client in active]
            try:
                check_limits_cover_use(org, changed.max_clients, changed.max_token_ttl, lifetimes)
            except LimitBelowUse:
                if not force:
                    raise
                forced = True
        changes = diff(org_fields(org), org_fields(changed))
        if not changes:
            return org
        await self._store.orgs.update(changed)
        if forced:
            changes["belowUse"] = [None, True]
        await self._store.audit.add(
            self._operator.event(
                org_id=org.id,
                at=self._clock.now(),
                action="org.update",
                target_type="org",
                target=str(org.id),
                changes=changes,
            )
        )
        return changed

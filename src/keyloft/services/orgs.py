"""Operator use cases: orgs, their admin users and Tills, and their scope entities."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.audit import Operator, created
from keyloft.domain.errors import Conflict, NotFound, ValidationFailed
from keyloft.domain.orgs import Org, check_org_limits
from keyloft.domain.passwords import hash_password, new_password
from keyloft.domain.patterns import validate_patterns
from keyloft.domain.scopes import DEFAULT_ENTITIES, ScopeEntity
from keyloft.domain.timefmt import check_timezone
from keyloft.services.ports import Clock, Store

MIN_PASSWORD = 8


@dataclass(frozen=True, slots=True)
class NewPrincipal:
    principal: Principal
    password: str


def _check_code(code: str, field: str) -> str:
    if not 1 <= len(code) <= 100:
        raise ValidationFailed(f"{field} must be 1 to 100 characters.", field=field)
    if ":" in code or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in code):
        raise ValidationFailed(
            f"{field} may not contain ':', spaces or control characters.", field=field
        )
    return code


class OrgService:
    """Every change is written to the audit trail, attributed to ``operator``."""

    def __init__(self, store: Store, clock: Clock, *, operator: Operator) -> None:
        self._store = store
        self._clock = clock
        self._operator = operator

    async def scopes(self, org_id: int) -> list[ScopeEntity]:
        """An org's scope entities, in id order; ``NotFound`` for an unknown org."""
        if await self._store.orgs.get(org_id) is None:
            raise NotFound(f"No org with id {org_id}.")
        return await self._store.scopes.list(org_id)

    async def _record(
        self, org_id: int, action: str, target_type: str, target: str, fields: dict[str, Any]
    ) -> None:
        await self._store.audit.add(
            self._operator.event(
                org_id=org_id,
                at=self._clock.now(),
                action=action,
                target_type=target_type,
                target=target,
                changes=created(fields),
            )
        )

    async def create_org(
        self, *, name: str, timezone: str, max_clients: int, max_token_ttl: int, ttl_ceiling: int
    ) -> Org:
        if not 1 <= len(name.strip()) <= 200:
            raise ValidationFailed("org name must be 1 to 200 characters.", field="name")
        check_timezone(timezone)
        check_org_limits(max_clients, max_token_ttl, ttl_ceiling)
        if await self._store.orgs.find_by_name(name) is not None:
            raise Conflict(f"An org named {name!r} already exists.")
        org = await self._store.orgs.add(
            name=name,
            timezone=timezone,
            max_clients=max_clients,
            max_token_ttl=max_token_ttl,
            now=self._clock.now(),
        )
        for entity in DEFAULT_ENTITIES:
            await self._store.scopes.add(org.id, entity.name, entity.area_pattern)
        await self._record(
            org.id,
            "org.create",
            "org",
            str(org.id),
            {
                "name": org.name,
                "timezone": org.timezone,
                "maxClients": org.max_clients,
                "maxTokenTtl": org.max_token_ttl,
                "scopes": [entity.name for entity in DEFAULT_ENTITIES],
            },
        )
        return org

    async def _org(self, org_id: int) -> Org:
        org = await self._store.orgs.get(org_id)
        if org is None:
            raise NotFound(f"No org with id {org_id}.")
        return org

    async def add_principal(
        self,
        *,
        org_id: int,
        kind: PrincipalKind,
        code: str,
        name: str | None = None,
        password: str | None = None,
    ) -> NewPrincipal:
        """Create an admin user or Till; a password not given is generated and returned once."""
        await self._org(org_id)
        field = "username" if kind is PrincipalKind.ADMIN_USER else "code"
        _check_code(code, field)
        if password is not None and len(password) < MIN_PASSWORD:
            raise ValidationFailed(
                f"password must be at least {MIN_PASSWORD} characters.", field="password"
            )
        if await self._store.principals.code_taken(code):
            raise Conflict(f"The login {code!r} is already taken.")
        password = password or new_password()
        password_hash = await asyncio.to_thread(hash_password, password)
        principal = await self._store.principals.add(
            org_id=org_id,
            kind=kind,
            code=code,
            name=(name or code)[:200],
            password_hash=password_hash,
            now=self._clock.now(),
        )
        kind_name = "admin" if kind is PrincipalKind.ADMIN_USER else "till"
        await self._record(
            org_id,
            f"{kind_name}.create",
            kind_name,
            principal.code,
            {"id": principal.id, "code": principal.code, "name": principal.name},
        )
        return NewPrincipal(principal, password)

    async def add_scope(self, *, org_id: int, name: str, area_pattern: str) -> ScopeEntity:
        await self._org(org_id)
        if not 1 <= len(name) <= 100 or not name.replace("_", "").replace(".", "").isalnum():
            raise ValidationFailed(
                "entity name must be 1 to 100 letters, digits, '_' or '.'.", field="entity"
            )
        existing = await self._store.scopes.list(org_id)
        if any(entity.name.lower() == name.lower() for entity in existing):
            raise Conflict(f"The org already has a scope entity named {name!r}.")
        (pattern,) = validate_patterns([area_pattern], "pattern")
        entity = await self._store.scopes.add(org_id, name, pattern)
        await self._record(
            org_id,
            "scope.create",
            "scope",
            entity.name,
            {"id": entity.id, "entity": entity.name, "areaPattern": entity.area_pattern},
        )
        return entity

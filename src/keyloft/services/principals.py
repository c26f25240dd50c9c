"""Operator use cases on an org's admin users and Tills once they exist: list them, set a new
password, disable, enable and delete (soft). Each change is audited under the operator's name
and announced to every node, which then refuses the old credentials; the change also moves
the account's session epoch, which ends its console sessions.

A deleted account keeps its row: the clients it made keep their attribution and its login
stays taken. A Till that active clients act as by default cannot be deleted (``TillInUse``),
only disabled.
"""

from __future__ import annotations

import asyncio
from typing import Any

from keyloft.domain.accounts import Account, TillInUse, kind_name, login_field
from keyloft.domain.actors import PrincipalKind
from keyloft.domain.audit import Operator
from keyloft.domain.errors import NotFound, ValidationFailed
from keyloft.domain.orgs import Org
from keyloft.domain.passwords import hash_password, new_password
from keyloft.services.orgs import MIN_PASSWORD
from keyloft.services.ports import Clock, Store


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"password must be at least {MIN_PASSWORD} characters.", field="password"
        )
    return password


class PrincipalAdministration:
    def __init__(self, store: Store, clock: Clock, *, operator: Operator) -> None:
        self._store = store
        self._clock = clock
        self._operator = operator

    async def _org(self, org_id: int) -> Org:
        org = await self._store.orgs.get(org_id)
        if org is None:
            raise NotFound(f"No org with id {org_id}.")
        return org

    async def accounts(self, org_id: int, kind: PrincipalKind) -> tuple[Org, list[Account]]:
        """The org (for its time zone) and its accounts of ``kind`` that are not deleted."""
        org = await self._org(org_id)
        return org, await self._store.principals.accounts(org_id, kind)

    async def _account(self, org_id: int, kind: PrincipalKind, code: str) -> Account:
        """The account, not deleted; ``NotFound`` naming what is missing otherwise."""
        await self._org(org_id)
        account = await self._store.principals.account(org_id, code, kind)
        label = "admin" if kind is PrincipalKind.ADMIN_USER else "Till"
        if account is None:
            raise NotFound(f"No {label} {code!r} in org {org_id}.", field=login_field(kind))
        if account.deleted:
            raise NotFound(
                f"The {label} {code!r} of org {org_id} was deleted.", field=login_field(kind)
            )
        return account

    async def _record(self, account: Account, action: str, changes: dict[str, list[Any]]) -> None:
        kind = kind_name(account.principal.kind)
        await self._store.audit.add(
            self._operator.event(
                org_id=account.principal.org_id,
                at=self._clock.now(),
                action=f"{kind}.{action}",
                target_type=kind,
                target=account.principal.code,
                changes=changes,
            )
        )

    async def set_password(
        self, org_id: int, kind: PrincipalKind, code: str, password: str | None = None
    ) -> tuple[Account, str]:
        """A new password (generated when not given): the account, and the password, which
        nothing keeps."""
        if password is not None:
            check_new_password(password)
        account = await self._account(org_id, kind, code)
        chosen = password or new_password()
        password_hash = await asyncio.to_thread(hash_password, chosen)
        await self._store.principals.set_password(account.principal, password_hash)
        source = "chosen" if password is not None else "generated"
        await self._record(account, "password", {"password": ["replaced", source]})
        return account, chosen

    async def disable(self, org_id: int, kind: PrincipalKind, code: str) -> tuple[Account, bool]:
        """The account afterwards, and whether it changed (disabling twice changes nothing)."""
        return await self._set_active(org_id, kind, code, False)

    async def enable(self, org_id: int, kind: PrincipalKind, code: str) -> tuple[Account, bool]:
        return await self._set_active(org_id, kind, code, True)

    async def _set_active(
        self, org_id: int, kind: PrincipalKind, code: str, active: bool
    ) -> tuple[Account, bool]:
        account = await self._account(org_id, kind, code)
        if account.active == active:
            return account, False
        await self._store.principals.set_active(account.principal, active)
        await self._record(
            account, "enable" if active else "disable", {"active": [account.active, active]}
        )
        return Account(account.principal, active, False, account.last_login_on), True

    async def delete(self, org_id: int, kind: PrincipalKind, code: str) -> Account:
        """Delete for good (soft); a Till that active clients act as by default is refused."""
        account = await self._account(org_id, kind, code)
        if kind is PrincipalKind.TILL:
            await self._store.orgs.lock(org_id)  # no client takes it as default meanwhile
            users = [
                (client.client_key, client.name)
                for client in await self._store.clients.list(org_id, include_invalid=False)
                if client.default_till_id == account.principal.id
            ]
            if users:
                raise TillInUse(code, users)
        await self._store.principals.delete(account.principal, self._clock.now())
        await self._record(
            account, "delete", {"active": [account.active, False], "deleted": [False, True]}
        )
        return Account(account.principal, False, True, account.last_login_on)

"""An admin changing their own password (the console's password page).

The current password must be given, and is checked like a sign-in: against the same
failed-login limits, per login and address. The new one replaces it and moves the account's
session epoch, so every other console session of the admin ends, while the session that made
the change gets the new fingerprint and goes on. The change is announced to every node (old
password refused by the API everywhere) and audited with the admin as the actor.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from keyloft.domain.accounts import session_stamp
from keyloft.domain.actors import Actor, PrincipalKind
from keyloft.domain.audit import AuditEvent, RequestContext
from keyloft.domain.errors import AccessDenied, Unauthenticated, ValidationFailed
from keyloft.domain.orgs import Org
from keyloft.domain.passwords import hash_password, verify_password
from keyloft.services.node import Node
from keyloft.services.principals import check_new_password

WRONG_CURRENT = "The current password is wrong."


@dataclass(frozen=True, slots=True, repr=False)
class PasswordChange:
    current: str
    new: str
    repeat: str
    address: str | None = None

    def __repr__(self) -> str:
        return f"PasswordChange(address={self.address!r})"


class OwnPassword:
    def __init__(self, node: Node) -> None:
        self._node = node

    async def org(self, actor: Actor) -> Org:
        """The admin's org, as the page shows it."""
        async with self._node.transaction(write=False) as store:
            org = await store.orgs.get(actor.org_id)
        if org is None:
            raise AccessDenied()
        return org

    async def change(
        self,
        actor: Actor,
        change: PasswordChange,
        fingerprint: Callable[[str], str],
        context: RequestContext,
    ) -> str:
        """Replace the admin's password; the ``fingerprint`` of the account's new session
        stamp, for the session that asked. Refused, with nothing changed: a Till or a token
        (``AccessDenied``), a new password too short, different from its repetition or equal
        to the current one (``ValidationFailed``), a wrong current password
        (``Unauthenticated``, counted like a failed sign-in)."""
        principal = actor.principal
        if actor.grants is not None or principal.kind is not PrincipalKind.ADMIN_USER:
            raise AccessDenied(
                "Only admins change their own password; a Till's is set by an operator."
            )
        check_new_password(change.new)
        if change.new != change.repeat:
            raise ValidationFailed("The new password and its repetition differ.", field="repeat")
        if hmac.compare_digest(change.new.encode(), change.current.encode()):
            raise ValidationFailed(
                "The new password must differ from the current one.", field="password"
            )
        guard = self._node.guard
        async with guard.attempt(guard.subjects("login", principal.code, change.address)):
            async with self._node.transaction(write=False) as store:
                found = await store.principals.session_credentials(principal.code)
            if found is None or found[0].id != principal.id:
                raise Unauthenticated(WRONG_CURRENT, field="current")
            verified_hash = found[1]
            if not await asyncio.to_thread(verify_password, verified_hash, change.current):
                raise Unauthenticated(WRONG_CURRENT, field="current")
        new_hash = await asyncio.to_thread(hash_password, change.new)
        async with self._node.transaction(write=True) as store:
            found = await store.principals.session_credentials(principal.code)
            if found is None or not hmac.compare_digest(found[1], verified_hash):
                # Changed, disabled or deleted since it was checked: this session ends anyway.
                raise Unauthenticated(WRONG_CURRENT, field="current")
            await store.principals.set_password(principal, new_hash)
            await store.audit.add(
                AuditEvent(
                    org_id=principal.org_id,
                    at=self._node.clock.now(),
                    actor=principal,
                    action="admin.password",
                    target_type="admin",
                    target=principal.code,
                    changes={"password": ["replaced", "chosen"]},
                    context=context,
                )
            )
            stored = await store.principals.session_credentials(principal.code)
            if stored is None:  # cannot be: it was read active in this very transaction
                raise Unauthenticated(WRONG_CURRENT, field="current")
        return fingerprint(session_stamp(stored[1], stored[2]))

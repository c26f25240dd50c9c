"""Accounts: an admin user or Till as operators manage it — whether it may log in, whether it
was deleted, when it last logged in — what a console session is tied to, and the refusal to
delete a Till that API clients act as.

A deleted account is inactive for good: its row stays, so the clients it made and the audit
trail keep naming it, and its login is never given to anyone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.errors import Conflict


@dataclass(frozen=True, slots=True)
class Account:
    principal: Principal
    active: bool
    deleted: bool = False
    last_login_on: datetime | None = None
    """The last successful Basic or console login, to the minute (None: never)."""

    @property
    def state(self) -> str:
        if self.deleted:
            return "deleted"
        return "active" if self.active else "disabled"


def kind_name(kind: PrincipalKind) -> str:
    """``admin`` or ``till``: how commands, audit actions and messages name the kind."""
    return "admin" if kind is PrincipalKind.ADMIN_USER else "till"


def login_field(kind: PrincipalKind) -> str:
    """The field that holds the login: an admin's ``username``, a Till's ``code``."""
    return "username" if kind is PrincipalKind.ADMIN_USER else "code"


def session_stamp(password_hash: str, epoch: int) -> str:
    """What a console session is tied to: the password hash and the account's session epoch,
    which every password change, disable, enable and delete moves. Epoch 0 (never moved) is
    the hash alone, so sessions opened before epochs existed stay valid."""
    return password_hash if epoch == 0 else f"{password_hash}#{epoch}"


class TillInUse(Conflict):
    """A Till that active API clients act as by default cannot be deleted, only disabled."""

    def __init__(self, code: str, clients: list[tuple[str, str]]) -> None:
        """``clients``: (client key, name) of each client whose default Till it is."""
        named = ", ".join(f"{name} ({key})" for key, name in clients)
        count = len(clients)
        super().__init__(
            f"Till {code!r} is the default Till of {count} active API "
            f"client{'s' if count != 1 else ''}: {named}. Give "
            f"{'them' if count != 1 else 'it'} another defaultTillId or delete "
            f"{'them' if count != 1 else 'it'} first, or disable the Till instead."
        )
        self.details: dict[str, Any] = {
            "clients": [{"clientKey": key, "name": name} for key, name in clients]
        }

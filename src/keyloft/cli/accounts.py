"""``keyloft admin`` and ``keyloft till`` on existing accounts: list an org's, set a new password
(read from standard input or generated and printed once), disable, enable and delete. Each
change is audited, announced to running nodes, and ends the account's console sessions.

The commands of both kinds are one implementation; the wrappers only name the login option
(``--username`` for admins, ``--code`` for Tills) and are registered in ``principals``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from keyloft.cli.output import JsonOpt, echo_json, emit, fail
from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.domain.accounts import Account, kind_name, login_field
from keyloft.domain.actors import PrincipalKind
from keyloft.domain.timefmt import format_v3
from keyloft.services.operators import OperatorServices

ADMIN, TILL = PrincipalKind.ADMIN_USER, PrincipalKind.TILL
OrgOpt = Annotated[int, typer.Option("--org", help="Org id.")]
UsernameOpt = Annotated[str, typer.Option("--username", help="The admin's login name.")]
CodeOpt = Annotated[str, typer.Option("--code", help="The Till's code (its login).")]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the new password from stdin (one line).")
]
Change = Callable[[OperatorServices], Awaitable[tuple[Account, bool]]]


def read_password() -> str:
    """One line of standard input, without its line end; fails when there is none."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("--password-stdin given but standard input held no password")
    return password


def list_accounts(kind: PrincipalKind, org: int, as_json: bool) -> None:
    settings = Settings()
    key = login_field(kind)

    async def work(services: OperatorServices) -> list[dict[str, Any]]:
        found, accounts = await services.principals.accounts(org, kind)
        return [
            {
                "id": account.principal.id,
                key: account.principal.code,
                "active": account.active,
                "lastLoginOn": (
                    format_v3(account.last_login_on, found.timezone)
                    if account.last_login_on is not None
                    else None
                ),
            }
            for account in accounts
        ]

    rows = with_services(settings, work, as_json=as_json)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        state = "active" if row["active"] else "disabled"
        typer.echo(
            f"{row['id']:>6}  {row[key]}  {state}  last login {row['lastLoginOn'] or 'never'}"
        )


def set_password(
    kind: PrincipalKind, org: int, code: str, password_stdin: bool, as_json: bool
) -> None:
    settings = Settings()
    chosen = read_password() if password_stdin else None

    async def work(services: OperatorServices) -> dict[str, Any]:
        _, password = await services.principals.set_password(org, kind, code, chosen)
        return {login_field(kind): code, "password": password}

    data = with_services(settings, work, as_json=as_json)
    note = "" if chosen else f"\npassword (shown only now): {data['password']}"
    emit(data, as_json, f"{kind_name(kind)} {code!r}: password replaced{note}")


def change(kind: PrincipalKind, code: str, verb: str, run: Change, as_json: bool) -> None:
    """Run one change of an account and print it: ``{"id", login, "active", "deleted"}``."""
    settings = Settings()

    async def work(services: OperatorServices) -> tuple[dict[str, Any], bool]:
        account, changed = await run(services)
        return {
            "id": account.principal.id,
            login_field(kind): account.principal.code,
            "active": account.active,
            "deleted": account.deleted,
        }, changed

    data, changed = with_services(settings, work, as_json=as_json)
    already = "" if changed else "was already "
    emit(data, as_json, f"{kind_name(kind)} {code!r} {already}{verb}")


def disable(kind: PrincipalKind, org: int, code: str, as_json: bool) -> None:
    change(kind, code, "disabled", lambda s: s.principals.disable(org, kind, code), as_json)


def enable(kind: PrincipalKind, org: int, code: str, as_json: bool) -> None:
    change(kind, code, "enabled", lambda s: s.principals.enable(org, kind, code), as_json)


def delete(kind: PrincipalKind, org: int, code: str, as_json: bool) -> None:
    async def run(services: OperatorServices) -> tuple[Account, bool]:
        return await services.principals.delete(org, kind, code), True

    change(kind, code, "deleted", run, as_json)


def admin_list(org: OrgOpt, as_json: JsonOpt = False) -> None:
    """The org's admins, but deleted ones: id, username, active, last login."""
    list_accounts(ADMIN, org, as_json)


def till_list(org: OrgOpt, as_json: JsonOpt = False) -> None:
    """The org's Tills, but deleted ones: id, code, active, last login."""
    list_accounts(TILL, org, as_json)


def admin_passwd(
    org: OrgOpt,
    username: UsernameOpt,
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Replace an admin's password (generated and printed once unless given): the old one is
    refused on every node, and the admin's console sessions end."""
    set_password(ADMIN, org, username, password_stdin, as_json)


def till_passwd(
    org: OrgOpt,
    code: CodeOpt,
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Replace a Till's password (generated and printed once unless given): the old one is
    refused on every node, and the Till's console sessions end."""
    set_password(TILL, org, code, password_stdin, as_json)


def admin_disable(org: OrgOpt, username: UsernameOpt, as_json: JsonOpt = False) -> None:
    """Refuse the admin's logins on every node and end its console sessions; the clients it
    made stay, and keep naming it."""
    disable(ADMIN, org, username, as_json)


def till_disable(org: OrgOpt, code: CodeOpt, as_json: JsonOpt = False) -> None:
    """Refuse the Till's logins on every node and end its console sessions; calls acting as
    it (as a client's default Till too) are refused until it is enabled."""
    disable(TILL, org, code, as_json)


def admin_enable(org: OrgOpt, username: UsernameOpt, as_json: JsonOpt = False) -> None:
    """Let a disabled admin log in again; sessions from before stay ended."""
    enable(ADMIN, org, username, as_json)


def till_enable(org: OrgOpt, code: CodeOpt, as_json: JsonOpt = False) -> None:
    """Let a disabled Till log in and be acted as again; old sessions stay ended."""
    enable(TILL, org, code, as_json)


def admin_delete(org: OrgOpt, username: UsernameOpt, as_json: JsonOpt = False) -> None:
    """Delete an admin for good: refused everywhere, no longer listed. The delete is soft: the
    clients it made keep naming it, and its username is never given to anyone else."""
    delete(ADMIN, org, username, as_json)


def till_delete(org: OrgOpt, code: CodeOpt, as_json: JsonOpt = False) -> None:
    """Delete a Till for good, as an admin; refused, naming them, while it is the default Till
    of active API clients: disable it instead, or move them to another Till first."""
    delete(TILL, org, code, as_json)

"""``keyloft admin`` and ``keyloft till``: create an org's admin users and Tills, each with a
password read from standard input or generated and printed once; and, from ``accounts``, list
them, set a new password, disable, enable and delete them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from keyloft.cli import accounts
from keyloft.cli.output import JsonOpt, emit
from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.domain.actors import PrincipalKind
from keyloft.services.operators import OperatorServices

admin_app = typer.Typer(help="Manage admin users.", no_args_is_help=True)
till_app = typer.Typer(help="Manage Tills.", no_args_is_help=True)

PasswordStdinOpt = Annotated[bool, typer.Option(help="Read the password from stdin.")]


@admin_app.command("create")
def admin_create(
    org: Annotated[int, typer.Option(help="Org id.")],
    username: Annotated[str, typer.Option(help="Login name, unique.")],
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an admin user; a password not given is generated and printed once."""
    _create(PrincipalKind.ADMIN_USER, org, username, None, password_stdin, as_json)


@till_app.command("create")
def till_create(
    org: Annotated[int, typer.Option(help="Org id.")],
    code: Annotated[str, typer.Option(help="Till code (its login), unique.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a Till; a password not given is generated and printed once."""
    _create(PrincipalKind.TILL, org, code, name, password_stdin, as_json)


def _create(
    kind: PrincipalKind, org: int, code: str, name: str | None, password_stdin: bool, as_json: bool
) -> None:
    settings = Settings()
    password = accounts.read_password() if password_stdin else None

    async def work(services: OperatorServices) -> dict[str, Any]:
        made = await services.orgs.add_principal(
            org_id=org, kind=kind, code=code, name=name, password=password
        )
        key = "username" if kind is PrincipalKind.ADMIN_USER else "code"
        return {"id": made.principal.id, key: made.principal.code, "password": made.password}

    data = with_services(settings, work)
    label = "admin" if kind is PrincipalKind.ADMIN_USER else "till"
    note = "" if password else f"\npassword (shown only now): {data['password']}"
    emit(data, as_json, f"{label} {data['id']} {code!r} created{note}")


# Help lists commands in the order they are added here.
admin_app.command("list")(accounts.admin_list)
admin_app.command("passwd")(accounts.admin_passwd)
admin_app.command("disable")(accounts.admin_disable)
admin_app.command("enable")(accounts.admin_enable)
admin_app.command("delete")(accounts.admin_delete)
till_app.command("list")(accounts.till_list)
till_app.command("passwd")(accounts.till_passwd)
till_app.command("disable")(accounts.till_disable)
till_app.command("enable")(accounts.till_enable)
till_app.command("delete")(accounts.till_delete)

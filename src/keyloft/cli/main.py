"""The ``keyloft`` command line: the root app, built from one module per command or command
group, and ``main``, its console-script entry point."""

from __future__ import annotations

import typer

from keyloft.cli.apply import apply
from keyloft.cli.audit import audit
from keyloft.cli.backup import backup
from keyloft.cli.database import db_app
from keyloft.cli.export import export
from keyloft.cli.init import init
from keyloft.cli.keys import keys_app
from keyloft.cli.orgs import org_app
from keyloft.cli.principals import admin_app, till_app
from keyloft.cli.restore import restore
from keyloft.cli.schema import schema
from keyloft.cli.scopes import scope_app
from keyloft.cli.secret import secret_app
from keyloft.cli.serve import serve

app = typer.Typer(help="Keyloft: API client accounts and access tokens.", no_args_is_help=True)
# Help lists commands in the order they are added here.
app.command("audit")(audit)
app.command("backup")(backup)
app.command("restore")(restore)
app.command("init")(init)
app.command("serve")(serve)
app.add_typer(org_app, name="org")
app.add_typer(admin_app, name="admin")
app.add_typer(till_app, name="till")
app.add_typer(scope_app, name="scope")
app.add_typer(db_app, name="db")
app.add_typer(secret_app, name="secret")
app.add_typer(keys_app, name="keys")
app.command("apply")(apply)
app.command("export")(export)
app.command("schema")(schema)


def main() -> None:
    app()

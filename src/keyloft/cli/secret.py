"""``keyloft secret``: re-encrypt the signing keys under the current server secret after a
rotation."""

from __future__ import annotations

from typing import Any

import typer

from keyloft.cli.output import JsonOpt, emit, fail
from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.services.operators import OperatorServices
from keyloft.services.server_secret import (
    MissingServerSecret,
    previous_server_keys,
    server_keys,
)

secret_app = typer.Typer(help="The server secret.", no_args_is_help=True)


@secret_app.command("rewrap")
def secret_rewrap(as_json: JsonOpt = False) -> None:
    """Re-encrypt the signing keys and webhook secrets under KEYLOFT_SECRET_KEY (after a
    rotation).

    Keys and secrets still sealed under a secret listed in KEYLOFT_PREVIOUS_SECRET_KEYS are
    opened with it and sealed again under the current one.
    """
    settings = Settings()
    try:
        current = server_keys(settings)
    except MissingServerSecret as exc:
        fail(str(exc))
    previous = previous_server_keys(settings)

    async def work(services: OperatorServices) -> dict[str, Any]:
        try:
            moved = await services.keys.rewrap(current, previous)
            hooks = await services.keys.rewrap_webhook_secrets(current, previous)
        except RuntimeError as exc:
            fail(str(exc))
        return {"rewrapped": moved, "rewrappedWebhookSecrets": hooks}

    data = with_services(settings, work)
    moved, hooks = data["rewrapped"], data["rewrappedWebhookSecrets"]
    emit(
        data,
        as_json,
        f"re-encrypted {len(moved)} signing key(s) and {len(hooks)} webhook secret(s)"
        if moved or hooks
        else "all signing keys and webhook secrets already use the current server secret",
    )

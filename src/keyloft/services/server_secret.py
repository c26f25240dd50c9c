"""The server secret: from KEYLOFT_SECRET_KEY, or a 0600 key file that ``keyloft init`` makes;
and the subkeys derived from it and from the previous secrets still accepted."""

from __future__ import annotations

import os
from pathlib import Path

from keyloft.config import Settings
from keyloft.domain.crypto import new_server_secret
from keyloft.services.keys import ServerKeys

MIN_LENGTH = 32


class MissingServerSecret(RuntimeError):
    pass


def read_server_secret(settings: Settings) -> str | None:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = settings.resolved_secret_key_file()
    if path is None or not path.exists():
        return None
    return path.read_text(encoding="utf-8").strip()


def require_server_secret(settings: Settings) -> str:
    secret = read_server_secret(settings)
    if secret is None:
        where = settings.resolved_secret_key_file()
        raise MissingServerSecret(
            "No server secret. Run `keyloft init` to create one"
            + (f" in {where}" if where else "")
            + ", or set KEYLOFT_SECRET_KEY."
        )
    if len(secret) < MIN_LENGTH:
        raise MissingServerSecret(f"The server secret must be at least {MIN_LENGTH} characters.")
    return secret


def server_keys(settings: Settings) -> ServerKeys:
    """The current server secret's subkeys; ``MissingServerSecret`` when there is none."""
    return ServerKeys.derive(require_server_secret(settings))


def previous_server_keys(settings: Settings) -> list[ServerKeys]:
    """The subkeys of each retired secret still listed in KEYLOFT_PREVIOUS_SECRET_KEYS."""
    return [ServerKeys.derive(secret) for secret in settings.previous_secrets()]


def create_server_secret_file(path: Path) -> str:
    """Write a new secret to ``path`` (mode 0600), never overwriting an existing file."""
    secret = new_server_secret()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret

"""Webhook signing secrets at rest: sealed under the server secret (AES-GCM, a subkey of its
own), opened with the current secret or any previous one still listed."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.exceptions import InvalidTag

from keyloft.domain import crypto
from keyloft.services.keys import ServerKeys
from keyloft.services.ports import Store

_ASSOCIATED = b"keyloft-webhook-secret"


class SecretUnreadable(RuntimeError):
    """A sealed secret none of the known server secrets opens."""


class WebhookSecrets:
    def __init__(self, current: ServerKeys, previous: Sequence[ServerKeys] = ()) -> None:
        self._current = current
        self._previous = tuple(previous)

    def __repr__(self) -> str:
        return "WebhookSecrets(<hidden>)"

    def seal(self, secret: str) -> str:
        return crypto.encrypt(
            self._current.webhook_secret_encryption, secret.encode("utf-8"), _ASSOCIATED
        )

    def opens_under_current(self, sealed: str) -> bool:
        try:
            crypto.decrypt(self._current.webhook_secret_encryption, sealed, _ASSOCIATED)
        except (InvalidTag, ValueError):
            return False
        return True

    def open(self, sealed: str) -> str:
        for keys in (self._current, *self._previous):
            try:
                plain = crypto.decrypt(keys.webhook_secret_encryption, sealed, _ASSOCIATED)
            except (InvalidTag, ValueError):
                continue
            return plain.decode("utf-8")
        raise SecretUnreadable("no server secret opens this webhook's signing secret")


async def rewrap_webhook_secrets(store: Store, secrets: WebhookSecrets) -> list[int]:
    """Seal every webhook's secret under the current server secret; the ids of those that were
    sealed under a previous one. ``SecretUnreadable`` (nothing changed) when one opens under
    none of the given secrets."""
    moved: list[tuple[int, str]] = []
    for webhook_id, sealed in await store.webhooks.sealed_secrets():
        if secrets.opens_under_current(sealed):
            continue
        try:
            moved.append((webhook_id, secrets.seal(secrets.open(sealed))))
        except SecretUnreadable:
            raise SecretUnreadable(
                f"webhook {webhook_id}'s secret opens under none of the given secrets"
            ) from None
    for webhook_id, sealed in moved:
        await store.webhooks.replace_secret(webhook_id, sealed)
    return [webhook_id for webhook_id, _ in moved]

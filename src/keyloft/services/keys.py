"""Server-secret subkeys, and signing keys: create, store encrypted, load into a key ring,
check they open, rotate, retire and list."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag

from keyloft.domain import crypto
from keyloft.domain.audit import Operator, created
from keyloft.domain.errors import Conflict, NotFound
from keyloft.domain.signing import (
    DEFAULT_ALGORITHM,
    PUBLISH_LEEWAY,
    THIRTY_DAYS,
    KeyRing,
    KeyState,
    NoSigningKey,
    SigningKey,
    generate_signing_key,
    key_phases,
    load_signing_key,
)
from keyloft.services.ports import Store, StoredKey


@dataclass(frozen=True, slots=True, repr=False)
class ServerKeys:
    """Independent subkeys derived from the server secret, one per purpose."""

    client_secret_hmac: bytes
    signing_key_encryption: bytes
    login_cache: bytes
    console_session: bytes
    dpop_nonce: bytes
    webhook_secret_encryption: bytes

    @classmethod
    def derive(cls, server_secret: str) -> ServerKeys:
        return cls(
            client_secret_hmac=crypto.derive_key(server_secret, "client-secret-hmac-v1"),
            signing_key_encryption=crypto.derive_key(server_secret, "signing-key-encryption-v1"),
            login_cache=crypto.derive_key(server_secret, "login-cache-v1"),
            console_session=crypto.derive_key(server_secret, "console-session-v1"),
            dpop_nonce=crypto.derive_key(server_secret, "dpop-nonce-v1"),
            webhook_secret_encryption=crypto.derive_key(server_secret, "webhook-secret-v1"),
        )

    def __repr__(self) -> str:
        return "ServerKeys(<hidden>)"


async def add_signing_key(
    store: Store,
    keys: ServerKeys,
    now: datetime,
    *,
    activates_at: datetime | None = None,
    algorithm: str = DEFAULT_ALGORITHM,
) -> SigningKey:
    """A new key for ``algorithm``, published at once and signing from ``activates_at``
    (default: now)."""
    key = generate_signing_key(now, algorithm)
    sealed = crypto.encrypt(keys.signing_key_encryption, key.private_pem(), key.kid.encode())
    await store.keys.add(
        StoredKey(key.kid, key.algorithm, sealed, now, activates_at), key.public_jwk()
    )
    return replace(key, activates_at=activates_at)


async def _record_key(
    store: Store,
    operator: Operator,
    now: datetime,
    action: str,
    kid: str,
    changes: dict[str, list[Any]],
) -> None:
    await store.audit.add(
        operator.event(
            org_id=None,
            at=now,
            action=action,
            target_type="signing_key",
            target=kid,
            changes=changes,
        )
    )


def _key_fields(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "algorithm": key.algorithm,
        "activates": key.starts.isoformat(),
    }


async def ensure_signing_key(
    store: Store,
    keys: ServerKeys,
    now: datetime,
    *,
    operator: Operator,
    algorithm: str = DEFAULT_ALGORITHM,
) -> bool:
    """Create the first signing key (for ``algorithm``) if there is none; True when one was
    created."""
    if await store.keys.list():
        return False
    key = await add_signing_key(store, keys, now, algorithm=algorithm)
    await _record_key(
        store, operator, now, "signing_key.create", key.kid, created(_key_fields(key))
    )
    return True


def _open(stored: StoredKey, candidates: Sequence[ServerKeys]) -> bytes | None:
    for keys in candidates:
        try:
            return crypto.decrypt(
                keys.signing_key_encryption, stored.encrypted_private_key, stored.kid.encode()
            )
        except (InvalidTag, ValueError):
            continue
    return None


async def load_key_ring(
    store: Store,
    keys: ServerKeys,
    previous: Sequence[ServerKeys] = (),
    *,
    token_lifetime: float = THIRTY_DAYS,
    clock: Callable[[], datetime] | None = None,
    known: KeyRing | None = None,
) -> KeyRing:
    """Decrypt every stored key (under the current or a retired server secret); a wrong server
    secret fails loudly here, at start-up, and so does a key that is not one of its recorded
    algorithm. Keys ``known`` already are reused: loading an RSA key costs tens of
    milliseconds of CPU, too much to repeat on every refresh."""
    reusable = {key.kid: key for key in known.keys} if known else {}
    loaded: list[SigningKey] = []
    for stored in await store.keys.list():
        if (have := reusable.get(stored.kid)) is not None:
            loaded.append(
                replace(have, activates_at=stored.activates_at, retired_at=stored.retired_at)
            )
            continue
        pem = _open(stored, [keys, *previous])
        if pem is None:
            raise RuntimeError(
                f"cannot decrypt signing key {stored.kid}: is KEYLOFT_SECRET_KEY the one "
                "the database was initialised with (or listed in KEYLOFT_PREVIOUS_SECRET_KEYS)?"
            )
        loaded.append(
            load_signing_key(
                stored.kid,
                pem,
                stored.created_at,
                stored.activates_at,
                stored.retired_at,
                algorithm=stored.algorithm,
            )
        )
    return KeyRing(loaded, token_lifetime=token_lifetime, clock=clock)


async def check_signing_keys(
    store: Store, keys: ServerKeys, previous: Sequence[ServerKeys] = ()
) -> None:
    """Fail as ``load_key_ring`` does when a stored key does not open under ``keys`` or
    ``previous``. NoSigningKey comes only after every key opened, so a store none of whose
    keys signs now passes (``keyloft serve`` reports that itself)."""
    with contextlib.suppress(NoSigningKey):
        await load_key_ring(store, keys, previous)


async def rewrap_signing_keys(
    store: Store,
    keys: ServerKeys,
    previous: Sequence[ServerKeys],
    *,
    operator: Operator,
    now: datetime,
) -> list[str]:
    """Re-encrypt every signing key under the current server secret; returns the kids moved
    (and records that in the audit trail when there were any)."""
    moved: list[str] = []
    for stored in await store.keys.list():
        current = _open(stored, [keys])
        if current is not None:
            continue
        pem = _open(stored, previous)
        if pem is None:
            raise RuntimeError(f"signing key {stored.kid} opens under none of the given secrets")
        sealed = crypto.encrypt(keys.signing_key_encryption, pem, stored.kid.encode())
        await store.keys.replace_encrypted(stored.kid, sealed)
        moved.append(stored.kid)
    if moved:
        await store.audit.add(
            operator.event(
                org_id=None,
                at=now,
                action="server_secret.rewrap",
                target_type="server_secret",
                target="current",
                changes={"signingKeysSealedUnderIt": [None, moved]},
            )
        )
    return moved


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """One signing key as ``keyloft keys list`` shows it."""

    kid: str
    algorithm: str
    created: datetime
    activates: datetime
    retired: datetime | None
    state: KeyState
    published: bool
    published_until: datetime | None


async def rotate_signing_key(
    store: Store,
    keys: ServerKeys,
    now: datetime,
    delay: float,
    *,
    operator: Operator,
    algorithm: str = DEFAULT_ALGORITHM,
) -> SigningKey:
    """A new key for ``algorithm``, published at once and signing ``delay`` seconds from
    ``now``: verifiers that cache the key set learn it before any token carries its kid. The
    key it supersedes stays published until every token it signed has expired, whatever its
    algorithm, so an ordinary rotation also moves a deployment to another algorithm."""
    if delay < 0:
        raise ValueError("the publish delay cannot be negative")
    key = await add_signing_key(
        store, keys, now, activates_at=now + timedelta(seconds=delay), algorithm=algorithm
    )
    await _record_key(
        store, operator, now, "signing_key.rotate", key.kid, created(_key_fields(key))
    )
    store.changes.keys = True
    return key


async def retire_signing_key(
    store: Store, kid: str, now: datetime, *, operator: Operator
) -> StoredKey:
    """Stop ``kid`` signing at once; it stays published until its tokens have expired.
    Refused for an unknown kid, a retired one, and when no other key could sign now."""
    stored = await store.keys.list()
    key = next((k for k in stored if k.kid == kid), None)
    if key is None:
        raise NotFound(f"No signing key with kid {kid}.")
    if key.retired_at is not None:
        raise Conflict(f"Signing key {kid} is already retired.")
    if not any(_can_sign(k, now) for k in stored if k.kid != kid):
        raise Conflict(
            f"Retiring {kid} would leave no key able to sign now: add one first "
            "(`keyloft keys rotate --publish-delay 0`)."
        )
    if not await store.keys.retire(kid, now):
        raise Conflict(f"Signing key {kid} is already retired.")
    await _record_key(
        store, operator, now, "signing_key.retire", kid, {"retired": [None, now.isoformat()]}
    )
    store.changes.keys = True
    return key


def _can_sign(key: StoredKey, now: datetime) -> bool:
    return key.starts <= now and (key.retired_at is None or key.retired_at > now)


async def list_signing_keys(
    store: Store, now: datetime, *, token_lifetime: float = THIRTY_DAYS
) -> list[KeyStatus]:
    """Every stored key with its phase at ``now``, oldest first (as a key ring sees them)."""
    stored = await store.keys.list()
    keep = timedelta(seconds=token_lifetime + PUBLISH_LEEWAY)
    phases = key_phases(stored, now, keep)
    return [
        KeyStatus(
            kid=key.kid,
            algorithm=key.algorithm,
            created=key.created_at,
            activates=key.starts,
            retired=key.retired_at,
            state=phases[key.kid].state,
            published=phases[key.kid].published(now),
            published_until=phases[key.kid].published_until,
        )
        for key in sorted(stored, key=lambda k: (k.starts, k.created_at))
    ]

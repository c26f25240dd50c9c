"""Server-secret subkeys, and signing keys: create, store encrypted, load into a key ring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag

from keyloft.domain import crypto
from keyloft.domain.credentials import SecretHasher
from keyloft.domain.signing import (
    THIRTY_DAYS,
    KeyRing,
    SigningKey,
    generate_signing_key,
    load_signing_key,
)
from keyloft.services.ports import Store, StoredKey


@dataclass(frozen=True, slots=True, repr=False)
class ServerKeys:
    """Independent subkeys derived from the server secret, one per purpose."""

    client_secret_hmac: bytes
    signing_key_encryption: bytes
    login_cache: bytes

    @classmethod
    def derive(cls, server_secret: str) -> ServerKeys:
        return cls(
            client_secret_hmac=crypto.derive_key(server_secret, "client-secret-hmac-v1"),
            signing_key_encryption=crypto.derive_key(server_secret, "signing-key-encryption-v1"),
            login_cache=crypto.derive_key(server_secret, "login-cache-v1"),
        )

    def __repr__(self) -> str:
        return "ServerKeys(<hidden>)"

    def secret_hasher(self) -> SecretHasher:
        return SecretHasher(self.client_secret_hmac)


async def add_signing_key(
    store: Store, keys: ServerKeys, now: datetime, *, activates_at: datetime | None = None
) -> SigningKey:
    """A new key, published at once and signing from ``activates_at`` (default: now)."""
    key = generate_signing_key(now)
    sealed = crypto.encrypt(keys.signing_key_encryption, key.private_pem(), key.kid.encode())
    await store.keys.add(
        StoredKey(key.kid, key.algorithm, sealed, now, activates_at), key.public_jwk()
    )
    return key


async def ensure_signing_key(store: Store, keys: ServerKeys, now: datetime) -> bool:
    """Create the first signing key if there is none; True when one was created."""
    if await store.keys.list():
        return False
    await add_signing_key(store, keys, now)
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
) -> KeyRing:
    """Decrypt every stored key (under the current or a retired server secret); a wrong server
    secret fails loudly here, at start-up."""
    loaded: list[SigningKey] = []
    for stored in await store.keys.list():
        pem = _open(stored, [keys, *previous])
        if pem is None:
            raise RuntimeError(
                f"cannot decrypt signing key {stored.kid}: is KEYLOFT_SECRET_KEY the one "
                "the database was initialised with (or listed in KEYLOFT_PREVIOUS_SECRET_KEYS)?"
            )
        loaded.append(
            load_signing_key(
                stored.kid, pem, stored.created_at, stored.activates_at, stored.retired_at
            )
        )
    return KeyRing(loaded, token_lifetime=token_lifetime)


async def rewrap_signing_keys(
    store: Store, keys: ServerKeys, previous: Sequence[ServerKeys]
) -> list[str]:
    """Re-encrypt every signing key under the current server secret; returns the kids moved."""
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
    return moved

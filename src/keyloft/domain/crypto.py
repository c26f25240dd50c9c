"""Keys derived from the server secret, and encryption of signing keys at rest."""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_ENC_PREFIX = "kl1$aes256gcm$"


def new_server_secret() -> str:
    return secrets.token_urlsafe(48)


def derive_key(server_secret: str, purpose: str) -> bytes:
    """A 32-byte subkey for ``purpose``; purposes never share key material."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"keyloft", info=purpose.encode()
    ).derive(server_secret.encode("utf-8"))


def encrypt(key: bytes, plaintext: bytes, associated: bytes) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext, associated)
    return _ENC_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(key: bytes, token: str, associated: bytes) -> bytes:
    if not token.startswith(_ENC_PREFIX):
        raise ValueError("unknown encryption format")
    raw = base64.urlsafe_b64decode(token[len(_ENC_PREFIX) :])
    return AESGCM(key).decrypt(raw[:12], raw[12:], associated)

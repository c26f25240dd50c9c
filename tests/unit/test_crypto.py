"""Server-secret subkeys and the authenticated encryption of signing keys at rest."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag

from keyloft.domain.crypto import decrypt, derive_key, encrypt, new_server_secret

SECRET = "server-secret-" + "s" * 40


def test_round_trip() -> None:
    key = derive_key(SECRET, "signing-key-encryption-v1")
    sealed = encrypt(key, b"private pem", b"kid-1")
    assert sealed.startswith("kl1$aes256gcm$")
    assert "private pem" not in sealed
    assert decrypt(key, sealed, b"kid-1") == b"private pem"


def test_nonce_makes_every_ciphertext_different() -> None:
    key = derive_key(SECRET, "p")
    assert encrypt(key, b"same", b"ad") != encrypt(key, b"same", b"ad")


def test_wrong_key_fails() -> None:
    sealed = encrypt(derive_key(SECRET, "p"), b"data", b"ad")
    with pytest.raises(InvalidTag):
        decrypt(derive_key(SECRET + "x", "p"), sealed, b"ad")


def test_wrong_associated_data_fails() -> None:
    key = derive_key(SECRET, "p")
    sealed = encrypt(key, b"data", b"kid-1")
    with pytest.raises(InvalidTag):
        decrypt(key, sealed, b"kid-2")


def test_tampered_ciphertext_fails() -> None:
    key = derive_key(SECRET, "p")
    sealed = encrypt(key, b"data", b"ad")
    prefix = "kl1$aes256gcm$"
    raw = bytearray(base64.urlsafe_b64decode(sealed[len(prefix) :]))
    raw[-1] ^= 0x01
    flipped = prefix + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(InvalidTag):
        decrypt(key, flipped, b"ad")


def test_unknown_format_fails() -> None:
    with pytest.raises(ValueError, match="unknown encryption format"):
        decrypt(derive_key(SECRET, "p"), "kl0$other$AAAA", b"ad")


def test_derive_key_differs_by_purpose_and_secret() -> None:
    first = derive_key(SECRET, "client-secret-hmac-v1")
    assert len(first) == 32
    assert first == derive_key(SECRET, "client-secret-hmac-v1")
    assert first != derive_key(SECRET, "signing-key-encryption-v1")
    assert first != derive_key(SECRET + "x", "client-secret-hmac-v1")


def test_new_server_secret_is_long_and_fresh() -> None:
    first, second = new_server_secret(), new_server_secret()
    assert len(first) >= 43  # 256 bits or more in URL-safe base64
    assert first != second

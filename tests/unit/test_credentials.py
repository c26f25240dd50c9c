"""Client keys and secrets: shape, randomness, and the versioned keyed hash at rest."""

from __future__ import annotations

import re
import string

import pytest

from keyloft.domain.credentials import SecretHasher, new_client_key, new_client_secret

KEY = b"k" * 32
HASH_FORMAT = re.compile(r"kl1\$hmac-sha256\$[0-9a-f]{64}")
ALPHANUMERIC = set(string.ascii_letters + string.digits)


def test_client_key_shape() -> None:
    key = new_client_key()
    assert len(key) == 25
    assert set(key) <= ALPHANUMERIC


def test_client_secret_shape() -> None:
    secret = new_client_secret()
    assert len(secret) == 40
    assert set(secret) <= ALPHANUMERIC


def test_keys_and_secrets_never_repeat() -> None:
    keys = {new_client_key() for _ in range(1000)}
    secrets_ = {new_client_secret() for _ in range(1000)}
    assert len(keys) == 1000
    assert len(secrets_) == 1000
    # Over 1000 draws every character of the alphabet turns up: the draw uses all 62 symbols.
    assert set("".join(secrets_)) == ALPHANUMERIC


def test_hash_format() -> None:
    stored = SecretHasher(KEY).hash("s3cret")
    assert HASH_FORMAT.fullmatch(stored), stored
    assert "s3cret" not in stored


def test_verify_right_and_wrong() -> None:
    hasher = SecretHasher(KEY)
    stored = hasher.hash("right-secret")
    assert hasher.verify("right-secret", stored) is True
    assert hasher.verify("wrong-secret", stored) is False
    assert hasher.verify("right-secret ", stored) is False
    assert hasher.verify("", stored) is False


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param("", id="empty"),
        pytest.param("right-secret", id="clear-text"),
        pytest.param("kl0$hmac-sha256$" + "0" * 64, id="other-version"),
        pytest.param("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", id="argon2"),
    ],
)
def test_unknown_formats_never_verify(stored: str) -> None:
    assert SecretHasher(KEY).verify("right-secret", stored) is False


def test_unknown_format_even_if_digest_matches() -> None:
    hasher = SecretHasher(KEY)
    digest = hasher.hash("right-secret").rsplit("$", 1)[1]
    assert hasher.verify("right-secret", digest) is False


def test_hash_depends_on_the_key() -> None:
    first, second = SecretHasher(b"a" * 32), SecretHasher(b"b" * 32)
    assert first.hash("same") != second.hash("same")
    assert second.verify("same", first.hash("same")) is False
    assert first.hash("same") == SecretHasher(b"a" * 32).hash("same")


def test_short_key_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretHasher(b"x" * 31)


def test_repr_hides_the_key() -> None:
    key = b"very-secret-hashing-key-material-0123456789"
    hasher = SecretHasher(key)
    for shown in (repr(hasher), str(hasher)):
        assert key.decode() not in shown
        assert "very-secret" not in shown
        assert key.hex() not in shown

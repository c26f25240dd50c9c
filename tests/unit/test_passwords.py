"""Admin and Till passwords: argon2id at OWASP strength, clear or md5-hex presentation."""

from __future__ import annotations

import math
import re
import string

import pytest

from keyloft.domain.passwords import (
    PRODUCTION,
    hash_password,
    md5_hex,
    new_password,
    verify_password,
)

PASSWORD = "correct horse battery"
URLSAFE = set(string.ascii_letters + string.digits + "-_")
ARGON2 = re.compile(
    r"\$argon2id\$v=19\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"
)


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(PASSWORD)


def test_md5_hex_is_the_known_digest() -> None:
    assert md5_hex("password") == "5f4dcc3b5aa765d61d8327deb882cf99"


def test_argon2id_parameters_at_or_above_owasp() -> None:
    """The production parameters (the test session hashes with cheap ones, see conftest)."""
    stored = hash_password(PASSWORD, parameters=PRODUCTION)
    found = ARGON2.fullmatch(stored)
    assert found is not None, stored
    assert int(found["m"]) >= 19456
    assert int(found["t"]) >= 2
    assert int(found["p"]) == 1


def test_hash_is_salted(stored: str) -> None:
    assert hash_password(PASSWORD) != stored
    assert PASSWORD not in stored
    assert md5_hex(PASSWORD) not in stored


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param(PASSWORD, id="clear"),
        pytest.param(md5_hex(PASSWORD), id="md5-hex"),
        pytest.param(md5_hex(PASSWORD).upper(), id="md5-hex-upper"),
    ],
)
def test_accepts_password_and_its_md5(stored: str, presented: str) -> None:
    assert verify_password(stored, presented) is True


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param("", id="empty"),
        pytest.param(PASSWORD.upper(), id="case-changed"),
        pytest.param(PASSWORD + " ", id="trailing-space"),
        pytest.param(md5_hex("other"), id="md5-of-other"),
        pytest.param(md5_hex(md5_hex(PASSWORD)), id="md5-of-md5"),
        pytest.param(md5_hex(PASSWORD)[:-1], id="md5-truncated"),
    ],
)
def test_rejects_other_presentations(stored: str, presented: str) -> None:
    assert verify_password(stored, presented) is False


def test_a_hex_looking_clear_password_still_verifies() -> None:
    clear = "0123456789ABCDEF0123456789ABCDEF"
    assert verify_password(hash_password(clear), clear) is True


@pytest.mark.parametrize(
    "broken", [pytest.param("", id="empty"), pytest.param("not-a-hash", id="garbage")]
)
def test_broken_stored_hash_never_verifies(broken: str) -> None:
    assert verify_password(broken, PASSWORD) is False


def test_new_password_has_at_least_128_bits() -> None:
    passwords = [new_password() for _ in range(200)]
    assert len(set(passwords)) == len(passwords)
    for password in passwords:
        assert set(password) <= URLSAFE
        assert len(password) * math.log2(len(URLSAFE)) >= 128

"""argon2 parameters: production ones at or above the OWASP minimum in every process of its
own, whatever its environment; cheap ones only where a test session chose them; hashes made
under either verify under the other."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from keyloft.domain import passwords
from keyloft.domain.passwords import FOR_TESTS, PRODUCTION, Argon2Parameters

OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
ARGON2 = re.compile(r"\$argon2id\$v=19\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)\$")

# Run in a fresh interpreter: import what a node and the command line import, build default
# Settings, hash a password, and report the process's parameters and the hash.
PROBE = """
import json
from keyloft.config import Settings
import keyloft.cli.main, keyloft.runtime, keyloft.web.app
from keyloft.domain import passwords
Settings(_env_file=None)
chosen = passwords.current_parameters()
print(json.dumps({
    "parameters": [chosen.time_cost, chosen.memory_kib, chosen.parallelism],
    "hash": passwords.hash_password("correct horse battery"),
}))
"""


def _parameters(stored: str) -> Argon2Parameters:
    found = ARGON2.match(stored)
    assert found is not None, stored
    return Argon2Parameters(int(found["t"]), int(found["m"]), int(found["p"]))


@pytest.fixture
def production() -> Iterator[None]:
    """The production parameters for one test, then the session's again."""
    before = passwords.current_parameters()
    passwords.use_parameters(PRODUCTION)
    yield
    passwords.use_parameters(before)


def test_the_production_parameters_meet_the_owasp_minimum() -> None:
    assert PRODUCTION.memory_kib >= OWASP_MEMORY_KIB
    assert PRODUCTION.time_cost >= OWASP_TIME_COST
    assert PRODUCTION.parallelism >= 1
    made = _parameters(passwords.hash_password("pw", parameters=PRODUCTION))
    assert made == PRODUCTION


@pytest.mark.parametrize(
    "environment",
    [{}, {"KEYLOFT_PASSWORD_HASH_PROFILE": "test", "KEYLOFT_ARGON2_MEMORY_KIB": "8"}],
    ids=["plain", "asking-for-cheap-hashes"],
)
def test_a_process_of_its_own_hashes_with_the_production_parameters(
    environment: dict[str, str],
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYLOFT_")} | environment
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert Argon2Parameters(*report["parameters"]) == PRODUCTION
    made = _parameters(report["hash"])
    assert made == PRODUCTION
    assert made.memory_kib >= OWASP_MEMORY_KIB
    assert made.time_cost >= OWASP_TIME_COST


def test_the_cheap_parameters_are_below_the_minimum_and_not_the_production_ones() -> None:
    assert FOR_TESTS != PRODUCTION
    assert FOR_TESTS.memory_kib < OWASP_MEMORY_KIB  # the OWASP check above would catch them


def test_this_test_session_hashes_with_the_cheap_parameters() -> None:
    assert passwords.current_parameters() == FOR_TESTS
    assert _parameters(passwords.hash_password("pw")) == FOR_TESTS


@pytest.mark.usefixtures("production")
def test_a_hash_made_with_cheap_parameters_verifies_under_production_ones() -> None:
    cheap = passwords.hash_password("s3cret", parameters=FOR_TESTS)
    assert _parameters(cheap) == FOR_TESTS
    assert passwords.current_parameters() == PRODUCTION
    assert passwords.verify_password(cheap, "s3cret") is True
    assert passwords.verify_password(cheap, passwords.md5_hex("s3cret")) is True
    assert passwords.verify_password(cheap, "wrong") is False


def test_a_hash_made_with_production_parameters_verifies_under_cheap_ones() -> None:
    strong = passwords.hash_password("s3cret", parameters=PRODUCTION)
    assert passwords.current_parameters() == FOR_TESTS
    assert passwords.verify_password(strong, "s3cret") is True
    assert passwords.verify_password(strong, "wrong") is False


@pytest.mark.usefixtures("production")
def test_switching_parameters_changes_new_hashes_only() -> None:
    assert _parameters(passwords.hash_password("pw")) == PRODUCTION
    passwords.use_parameters(FOR_TESTS)
    assert _parameters(passwords.hash_password("pw")) == FOR_TESTS

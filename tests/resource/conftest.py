"""Fixtures for the resource-server tests: a key the issuer never published, and a verifier
over a local JWKS (helpers: ``tests.support.resource``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyloft.domain.signing import SigningKey, generate_signing_key
from keyloft.resource import TokenVerifier
from tests.support.resource import AUDIENCE, ISSUER, JWKS_URL, FakeJwks


@pytest.fixture(scope="session")
def stranger_key() -> SigningKey:
    """A well-formed key the issuer never published."""
    return generate_signing_key(datetime.now(UTC))


@pytest.fixture
def jwks(signing_key: SigningKey) -> FakeJwks:
    return FakeJwks({"keys": [signing_key.public_jwk()]})


@pytest.fixture
def verifier(jwks: FakeJwks) -> TokenVerifier:
    return TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=jwks)

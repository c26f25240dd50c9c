"""The offline verifier with ES256 and EdDSA keys beside RS256 ones: each key set entry is kept
only with the algorithm its key fits, and a token verifies only with its key's algorithm."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from keyloft.domain.signing import ALGORITHMS, KeyRing, SigningKey, generate_signing_key
from keyloft.resource import TokenInvalid, TokenVerifier
from keyloft.resource.jwks import parse_jwks
from tests.support.resource import (
    AUDIENCE,
    CLIENT_KEY,
    ISSUER,
    JWKS_URL,
    FakeJwks,
    oauth_claims,
    v3_claims,
)

EARLIER = datetime.now(UTC) - timedelta(days=1)


@pytest.fixture(scope="module")
def keys(signing_key: SigningKey) -> dict[str, SigningKey]:
    return {
        "RS256": signing_key,
        "ES256": generate_signing_key(EARLIER, "ES256"),
        "EdDSA": generate_signing_key(EARLIER, "EdDSA"),
    }


@pytest.fixture
def all_keys(keys: dict[str, SigningKey]) -> FakeJwks:
    return FakeJwks({"keys": [key.public_jwk() for key in keys.values()]})


def _sign(key: SigningKey, claims: dict[str, Any], typ: str = "at+jwt", alg: str = "") -> str:
    headers = {"kid": key.kid, "typ": typ}
    return jwt.encode(claims, key.private_key, algorithm=alg or key.algorithm, headers=headers)


async def _reason(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenInvalid) as caught:
        await verifier.verify(token)
    return caught.value.reason


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_tokens_of_each_algorithm_verify(
    keys: dict[str, SigningKey], all_keys: FakeJwks, algorithm: str
) -> None:
    verifier = TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=all_keys)
    key = keys[algorithm]
    oauth = await verifier.verify(_sign(key, oauth_claims()))
    assert (oauth.typ, oauth.client_key) == ("at+jwt", CLIENT_KEY)
    v3 = await verifier.verify(_sign(key, v3_claims(), typ="JWT"))
    assert (v3.typ, v3.client_key) == ("JWT", CLIENT_KEY)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_tokens_from_keylofts_key_ring_verify(
    keys: dict[str, SigningKey], all_keys: FakeJwks, algorithm: str
) -> None:
    verifier = TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=all_keys)
    token = KeyRing([keys[algorithm]]).sign(oauth_claims(), typ="at+jwt")
    assert (await verifier.verify(token)).org_id == 7


@pytest.mark.parametrize(
    ("kid_of", "signed_as"),
    [
        pytest.param("ES256", "RS256", id="es256-key-rs256-token"),
        pytest.param("RS256", "ES256", id="rs256-key-es256-token"),
        pytest.param("EdDSA", "ES256", id="eddsa-key-es256-token"),
        pytest.param("ES256", "EdDSA", id="es256-key-eddsa-token"),
    ],
)
async def test_a_token_naming_another_algorithm_than_its_key_is_refused(
    keys: dict[str, SigningKey], all_keys: FakeJwks, kid_of: str, signed_as: str
) -> None:
    verifier = TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=all_keys)
    signer = keys[signed_as]
    token = jwt.encode(
        oauth_claims(),
        signer.private_key,
        algorithm=signed_as,
        headers={"kid": keys[kid_of].kid, "typ": "at+jwt"},
    )
    assert await _reason(verifier, token) == "algorithm"
    assert verifier.verifications == 0


async def test_algorithms_narrow_what_is_accepted(
    keys: dict[str, SigningKey], all_keys: FakeJwks
) -> None:
    verifier = TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=all_keys, algorithms=("EdDSA",))
    assert (await verifier.verify(_sign(keys["EdDSA"], oauth_claims()))).typ == "at+jwt"
    for algorithm in ("RS256", "ES256"):
        assert await _reason(verifier, _sign(keys[algorithm], oauth_claims())) == "algorithm"


@pytest.mark.parametrize("algorithms", [("ES384",), ("RS512",), ("EdDSA", "HS256"), ("none",)])
def test_only_the_three_algorithms_can_be_configured(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="ES256 and EdDSA"):
        TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, algorithms=algorithms)


def _jwk(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    jwk = {**base, **fields}
    return {name: value for name, value in jwk.items() if value is not None}


def test_the_key_set_keeps_each_key_with_the_algorithm_it_fits(
    keys: dict[str, SigningKey],
) -> None:
    es256, eddsa = keys["ES256"].public_jwk(), keys["EdDSA"].public_jwk()
    p384 = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key()))
    ed448_key = json.loads(OKPAlgorithm.to_jwk(ed448.Ed448PrivateKey.generate().public_key()))
    document = {
        "keys": [
            _jwk(es256, kid="es256"),
            _jwk(eddsa, kid="eddsa"),
            _jwk(keys["RS256"].public_jwk(), kid="rs256"),
            _jwk(es256, kid="ec-as-rs256", alg="RS256"),
            _jwk(es256, kid="ec-as-eddsa", alg="EdDSA"),
            _jwk(eddsa, kid="okp-as-es256", alg="ES256"),
            _jwk(es256, kid="ec-no-crv", crv=None),
            _jwk(es256, kid="ec-wrong-crv", crv="P-384"),
            _jwk(p384, kid="p384", alg="ES256", use="sig"),
            _jwk(p384, kid="p384-as-es384", alg="ES384", use="sig"),
            _jwk(ed448_key, kid="ed448", alg="EdDSA", use="sig"),
            _jwk(eddsa, kid="eddsa-enc", use="enc"),
            _jwk(eddsa, kid="eddsa-private", d="c2VjcmV0"),
            _jwk(es256, kid="es256-broken", x="!"),
        ]
    }
    found = parse_jwks(document)
    assert {kid: key.algorithm for kid, key in found.items()} == {
        "es256": "ES256",
        "eddsa": "EdDSA",
        "rs256": "RS256",
    }

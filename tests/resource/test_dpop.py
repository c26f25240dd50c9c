"""DPoP at the resource server: a bound token is used only with a fresh proof of its key for
this request and this token, an unbound one only as a bearer token; proofs are used once."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from keyloft.domain.dpop import MAX_AGE, SKEW
from keyloft.domain.errors import StoreUnavailable
from keyloft.domain.signing import SigningKey
from keyloft.resource import (
    ProofInvalid,
    ProofReplayCache,
    ReplayUnavailable,
    TokenInvalid,
    TokenVerifier,
    VerifiedToken,
)
from keyloft.resource.dpop import REPLAY_WINDOW, replay_key
from tests.resource.dpop_support import (
    JKT,
    OTHER_JWK,
    OTHER_KEY,
    PUBLIC_URL,
    bound_token,
    proof,
)
from tests.support.resource import AUDIENCE, ISSUER, JWKS_URL, FakeJwks, oauth_token

URL = f"{PUBLIC_URL}/v2/customers"


async def _present(
    verifier: TokenVerifier,
    token: str,
    *proofs: str,
    scheme: str = "DPoP",
    method: str = "GET",
    url: str = URL,
) -> Any:
    verified = await verifier.verify(token)
    return await verifier.check_presentation(
        verified, token, scheme=scheme, proofs=proofs, method=method, url=url
    )


async def _refusal(verifier: TokenVerifier, token: str, *proofs: str, **how: Any) -> TokenInvalid:
    with pytest.raises(TokenInvalid) as caught:
        await _present(verifier, token, *proofs, **how)
    return caught.value


async def test_a_bound_token_reads_its_confirmation(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    verified = await verifier.verify(bound_token(signing_key))
    assert verified.jkt == JKT
    assert verified.cnf == {"jkt": JKT}
    with pytest.raises(TypeError):
        verified.cnf["jkt"] = "x"  # type: ignore[index]
    unbound = await verifier.verify(oauth_token(signing_key))
    assert (unbound.jkt, unbound.cnf) == (None, None)


async def test_a_bound_token_with_a_good_proof_passes(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = bound_token(signing_key)
    checked = await _present(verifier, token, proof(token))
    assert checked.jkt == JKT
    for scheme in ("dpop", "DPOP"):
        assert (await _present(verifier, token, proof(token), scheme=scheme)).jkt == JKT


async def test_verify_request_verifies_and_checks_the_presentation(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = bound_token(signing_key)
    how: dict[str, Any] = {"method": "GET", "url": URL}
    verified = await verifier.verify_request(token, scheme="DPoP", proofs=[proof(token)], **how)
    assert isinstance(verified, VerifiedToken)
    assert verified.jkt == JKT
    with pytest.raises(TokenInvalid) as caught:
        await verifier.verify_request(token, scheme="Bearer", **how)
    assert caught.value.reason == "dpop_required"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "X-CAP-API-OAUTH-TOKEN"])
async def test_a_bound_token_is_refused_as_a_bearer_token(
    verifier: TokenVerifier, signing_key: SigningKey, scheme: str
) -> None:
    token = bound_token(signing_key)
    refused = await _refusal(verifier, token, proof(token), scheme=scheme)
    assert refused.reason == "dpop_required"
    assert not isinstance(refused, ProofInvalid)


async def test_an_unbound_token_is_refused_with_the_dpop_scheme(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = oauth_token(signing_key)
    refused = await _refusal(verifier, token, proof(token))
    assert refused.reason == "dpop_unbound"
    assert not isinstance(refused, ProofInvalid)


async def test_an_unbound_token_passes_as_a_bearer_token(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = oauth_token(signing_key)
    assert await _present(verifier, token, scheme="Bearer") is None
    # A DPoP header beside a bearer token changes nothing.
    assert await _present(verifier, token, "junk", scheme="X-CAP-API-OAUTH-TOKEN") is None


async def test_an_unknown_scheme_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    refused = await _refusal(verifier, oauth_token(signing_key), scheme="Basic")
    assert refused.reason == "scheme"


@pytest.mark.parametrize(
    ("made", "reason"),
    [
        (lambda token: [], "dpop_proof_missing"),
        (lambda token: [proof(token), proof(token)], "dpop_proofs"),
        (lambda token: ["not-a-proof"], "dpop_malformed"),
        (lambda token: [proof(token, method="POST")], "dpop_htm"),
        (lambda token: [proof(token, method="get")], "dpop_htm"),
        (lambda token: [proof(token, url=f"{PUBLIC_URL}/v2/customers/1")], "dpop_htu"),
        (lambda token: [proof(token, url="https://other.example/v2/customers")], "dpop_htu"),
        (lambda token: [proof("another.access.token")], "dpop_ath"),
        (lambda token: [proof(None)], "dpop_ath"),
        (lambda token: [proof(token, iat=int(time.time()) - MAX_AGE - 5)], "dpop_iat"),
        (lambda token: [proof(token, iat=int(time.time()) + SKEW + 5)], "dpop_iat"),
        (lambda token: [proof(token, key=OTHER_KEY)], "dpop_signature"),
    ],
)
async def test_a_proof_that_does_not_fit_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey, made: Any, reason: str
) -> None:
    token = bound_token(signing_key)
    refused = await _refusal(verifier, token, *made(token))
    assert refused.reason == reason
    assert isinstance(refused, ProofInvalid)


async def test_a_proof_of_another_key_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = bound_token(signing_key)
    refused = await _refusal(verifier, token, proof(token, key=OTHER_KEY, jwk=OTHER_JWK))
    assert refused.reason == "dpop_key"
    assert not isinstance(refused, ProofInvalid)  # the token's binding, answered invalid_token


async def test_a_proof_is_used_once(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    token = bound_token(signing_key)
    once = proof(token)
    assert (await _present(verifier, token, once)).jkt == JKT
    refused = await _refusal(verifier, token, once)
    assert refused.reason == "dpop_replayed"
    assert isinstance(refused, ProofInvalid)
    assert (await _present(verifier, token, proof(token))).jkt == JKT  # a new jti is fine


async def test_a_refused_proof_does_not_use_up_its_jti(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = bound_token(signing_key)
    await _refusal(verifier, token, proof(token, key=OTHER_KEY, jwk=OTHER_JWK, jti="j-1"))
    assert (await _present(verifier, token, proof(token, jti="j-1"))).jkt == JKT


async def test_verifiers_sharing_a_replay_store_refuse_each_others_proofs(
    jwks: FakeJwks, signing_key: SigningKey
) -> None:
    shared = ProofReplayCache()
    one, two = (
        TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=jwks, dpop_replays=shared) for _ in range(2)
    )
    alone = TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=jwks)
    token = bound_token(signing_key)
    once = proof(token)
    assert (await _present(one, token, once)).jkt == JKT
    assert (await _refusal(two, token, once)).reason == "dpop_replayed"
    assert (await _present(alone, token, once)).jkt == JKT  # its own cache never saw it


class Recorder:
    """A ProofReplays that records what it is asked and answers as told."""

    def __init__(self, answer: bool | Exception = True) -> None:
        self.answer = answer
        self.asked: list[tuple[str, datetime]] = []

    async def first_use(self, key: str, expires_at: datetime) -> bool:
        self.asked.append((key, expires_at))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_a_proof_is_remembered_by_key_and_jti_for_the_window(
    jwks: FakeJwks, signing_key: SigningKey
) -> None:
    now = time.time()
    store = Recorder()
    verifier = TokenVerifier(
        JWKS_URL, ISSUER, AUDIENCE, fetch=jwks, clock=lambda: now, dpop_replays=store
    )
    token = bound_token(signing_key)
    await _present(verifier, token, proof(token, jti="the-jti"))
    assert store.asked == [
        (replay_key(JKT, "the-jti"), datetime.fromtimestamp(now + MAX_AGE + SKEW, UTC))
    ]
    assert REPLAY_WINDOW == MAX_AGE + SKEW
    assert replay_key(JKT, "the-jti") != replay_key(JKT, "other-jti")
    assert replay_key(JKT, "the-jti") != replay_key("x" * 43, "the-jti")


@pytest.mark.parametrize("failure", [ReplayUnavailable("down"), StoreUnavailable()])
async def test_a_replay_store_that_cannot_answer_refuses(
    jwks: FakeJwks, signing_key: SigningKey, failure: Exception
) -> None:
    verifier = TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=jwks, dpop_replays=Recorder(failure))
    token = bound_token(signing_key)
    refused = await _refusal(verifier, token, proof(token))
    assert refused.reason == "replay_unavailable"
    assert not isinstance(refused, ProofInvalid)


@pytest.mark.parametrize(
    "cnf",
    [{"jwk": {}}, {"jkt": JKT, "jwk": {}}, {"x5t#S256": "A" * 43, "x5t": "A" * 27}],
)
async def test_a_confirmation_that_cannot_be_checked_refuses_the_token(
    verifier: TokenVerifier, signing_key: SigningKey, cnf: dict[str, Any]
) -> None:
    token = oauth_token(signing_key, cnf=cnf)
    for scheme in ("Bearer", "DPoP"):
        refused = await _refusal(verifier, token, proof(token), scheme=scheme)
        assert refused.reason == "cnf_unsupported"


@pytest.mark.parametrize(
    "cnf",
    [{}, "jkt", ["jkt"], {"jkt": None}, {"jkt": 7}, {"jkt": JKT[:-1]}, {"jkt": JKT + "="}],
)
async def test_a_malformed_confirmation_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey, cnf: Any
) -> None:
    with pytest.raises(TokenInvalid) as caught:
        await verifier.verify(oauth_token(signing_key, cnf=cnf))
    assert caught.value.reason == "claims"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _until(clock: Clock, seconds: float) -> datetime:
    return datetime.fromtimestamp(clock.now + seconds, UTC)


async def test_the_replay_cache_forgets_a_proof_once_it_expires() -> None:
    clock = Clock()
    cache = ProofReplayCache(clock=clock)
    assert await cache.first_use("a", _until(clock, 10))
    assert not await cache.first_use("a", _until(clock, 10))
    clock.now += 9.5
    assert not await cache.first_use("a", _until(clock, 10))
    clock.now += 1
    assert await cache.first_use("a", _until(clock, 10))
    assert len(cache) == 1


async def test_the_replay_cache_is_bounded_and_refuses_rather_than_forget() -> None:
    clock = Clock()
    cache = ProofReplayCache(size=2, clock=clock)
    assert await cache.first_use("a", _until(clock, 10))
    clock.now += 5
    assert await cache.first_use("b", _until(clock, 10))
    with pytest.raises(ReplayUnavailable):
        await cache.first_use("c", _until(clock, 10))
    assert not await cache.first_use("a", _until(clock, 10))  # still known, not evicted
    clock.now += 5  # "a" expires, making room
    assert await cache.first_use("c", _until(clock, 10))
    assert len(cache) == 2
    assert not await cache.first_use("b", _until(clock, 10))
    with pytest.raises(ValueError, match="positive"):
        ProofReplayCache(size=0)


async def test_an_expired_entry_is_renewed_in_a_full_cache() -> None:
    clock = Clock()
    cache = ProofReplayCache(size=2, clock=clock)
    assert await cache.first_use("long", _until(clock, 100))
    assert await cache.first_use("short", _until(clock, 10))  # expires before the one ahead
    clock.now += 50
    assert await cache.first_use("short", _until(clock, 10))
    assert not await cache.first_use("short", _until(clock, 10))
    with pytest.raises(ReplayUnavailable):
        await cache.first_use("new", _until(clock, 10))

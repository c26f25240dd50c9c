"""The JWKS cache: keys only from the configured URL, refetching on unknown kids rate-limited,
which published keys are accepted, and the HTTP fetcher's limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from keyloft.domain.signing import SigningKey
from keyloft.resource import JwksCache, JwksUnavailable, TokenInvalid, TokenVerifier
from keyloft.resource.jwks import httpx_fetcher, parse_jwks
from tests.support.resource import (
    AUDIENCE,
    ISSUER,
    JWKS_URL,
    FakeJwks,
    oauth_claims,
    oauth_token,
    sign,
)


async def _reason(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenInvalid) as caught:
        await verifier.verify(token)
    return caught.value.reason


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_unknown_kid_refetches_once_then_refuses(
    verifier: TokenVerifier, jwks: FakeJwks, signing_key: SigningKey, stranger_key: SigningKey
) -> None:
    await verifier.verify(oauth_token(signing_key))
    assert len(jwks.urls) == 1
    assert await _reason(verifier, oauth_token(stranger_key)) == "unknown_kid"
    assert len(jwks.urls) == 2
    other = sign(stranger_key, oauth_claims(), kid="another-unknown-kid")
    assert await _reason(verifier, other) == "unknown_kid"
    assert await _reason(verifier, oauth_token(stranger_key)) == "unknown_kid"
    assert len(jwks.urls) == 2  # within the refetch interval: no new fetch
    assert jwks.urls == [JWKS_URL, JWKS_URL]


async def test_a_key_published_later_is_found_by_the_refetch(
    verifier: TokenVerifier, jwks: FakeJwks, signing_key: SigningKey, stranger_key: SigningKey
) -> None:
    await verifier.verify(oauth_token(signing_key))
    jwks.document = {"keys": [signing_key.public_jwk(), stranger_key.public_jwk()]}
    verified = await verifier.verify(oauth_token(stranger_key))
    assert verified.org_id == 7
    assert len(jwks.urls) == 2


@pytest.mark.parametrize("pointer", ["jku", "x5u"])
async def test_key_urls_in_the_token_are_never_followed(
    verifier: TokenVerifier, jwks: FakeJwks, stranger_key: SigningKey, pointer: str
) -> None:
    token = sign(stranger_key, oauth_claims(), **{pointer: "https://evil.test/keys.json"})
    assert await _reason(verifier, token) == "unknown_kid"
    assert set(jwks.urls) == {JWKS_URL}


async def test_keys_embedded_in_the_token_are_never_used(
    verifier: TokenVerifier, jwks: FakeJwks, signing_key: SigningKey, stranger_key: SigningKey
) -> None:
    public = stranger_key.public_jwk()
    der = json.dumps(public)  # any stand-in: x5c must not be read at all
    token = sign(stranger_key, oauth_claims(), kid=signing_key.kid, jwk=public, x5c=[der])
    assert await _reason(verifier, token) == "signature"
    assert set(jwks.urls) == {JWKS_URL}


async def test_the_set_is_refetched_after_max_age(signing_key: SigningKey) -> None:
    clock, jwks = Clock(), FakeJwks({"keys": [signing_key.public_jwk()]})
    cache = JwksCache(JWKS_URL, fetch=jwks, max_age=300, min_refetch_interval=30, clock=clock)
    assert await cache.key(signing_key.kid) is not None
    clock.now += 299
    assert await cache.key(signing_key.kid) is not None
    assert cache.fetches == 1
    clock.now += 2
    jwks.document = {"keys": []}
    assert await cache.key(signing_key.kid) is None  # withdrawn keys go with the refetch
    assert cache.fetches == 2


async def test_unknown_kids_refetch_again_after_the_interval(signing_key: SigningKey) -> None:
    clock, jwks = Clock(), FakeJwks({"keys": [signing_key.public_jwk()]})
    cache = JwksCache(JWKS_URL, fetch=jwks, max_age=300, min_refetch_interval=30, clock=clock)
    assert await cache.key(signing_key.kid) is not None  # the first fetch
    assert await cache.key("nope") is None  # refetches once
    assert cache.fetches == 2
    clock.now += 29
    assert await cache.key("still-nope") is None
    assert await cache.key(signing_key.kid) is not None
    assert cache.fetches == 2
    clock.now += 1
    assert await cache.key("nope") is None
    assert cache.fetches == 3
    assert cache.cached(signing_key.kid) is not None


class GatedJwks(FakeJwks):
    """A fetch that waits for ``gate``: lets a test hold a refetch in flight."""

    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__(document)
        self.gate = asyncio.Event()

    async def __call__(self, url: str) -> dict[str, Any]:
        self.urls.append(url)
        await self.gate.wait()
        return self.document


async def test_concurrent_unknown_kids_share_one_refetch(signing_key: SigningKey) -> None:
    jwks = GatedJwks({"keys": [signing_key.public_jwk()]})
    cache = JwksCache(JWKS_URL, fetch=jwks, clock=Clock())
    jwks.gate.set()
    assert await cache.key(signing_key.kid) is not None
    jwks.gate.clear()
    lookups = [asyncio.create_task(cache.key(f"kid-{n}")) for n in range(20)]
    for _ in range(1000):  # until the refetch is in flight
        if len(jwks.urls) == 2:
            break
        await asyncio.sleep(0)
    assert len(jwks.urls) == 2
    assert not any(lookup.done() for lookup in lookups)  # all wait for that one refetch
    jwks.gate.set()
    assert await asyncio.gather(*lookups) == [None] * 20
    assert cache.fetches == 2


async def test_lookups_during_the_first_fetch_wait_for_it(signing_key: SigningKey) -> None:
    jwks = GatedJwks({"keys": [signing_key.public_jwk()]})
    cache = JwksCache(JWKS_URL, fetch=jwks, clock=Clock())
    lookups = [asyncio.create_task(cache.key(signing_key.kid)) for _ in range(5)]
    for _ in range(1000):  # until the first fetch is in flight
        if jwks.urls:
            break
        await asyncio.sleep(0)
    assert len(jwks.urls) == 1
    jwks.gate.set()
    assert all(key is not None for key in await asyncio.gather(*lookups))
    assert cache.fetches == 1


class FailingFetch:
    def __init__(self, document: dict[str, Any] | None) -> None:
        self.document = document
        self.calls = 0

    async def __call__(self, url: str) -> Any:
        self.calls += 1
        if self.document is None:
            raise JwksUnavailable("down")
        return self.document


async def test_a_failed_refetch_keeps_the_known_keys(signing_key: SigningKey) -> None:
    clock, fetch = Clock(), FailingFetch({"keys": [signing_key.public_jwk()]})
    cache = JwksCache(JWKS_URL, fetch=fetch, max_age=300, min_refetch_interval=30, clock=clock)
    assert await cache.key(signing_key.kid) is not None
    fetch.document = None
    clock.now += 400
    assert await cache.key(signing_key.kid) is not None
    assert await cache.key(signing_key.kid) is not None
    assert fetch.calls == 2  # the failure itself is rate-limited too


async def test_no_keys_at_all_is_unavailable(signing_key: SigningKey) -> None:
    clock, fetch = Clock(), FailingFetch(None)
    cache = JwksCache(JWKS_URL, fetch=fetch, min_refetch_interval=30, clock=clock)
    for _ in range(2):
        with pytest.raises(JwksUnavailable):
            await cache.key(signing_key.kid)
    assert fetch.calls == 1
    verifier = TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=FailingFetch(None))
    assert await _reason(verifier, oauth_token(signing_key)) == "jwks_unavailable"


def _jwk(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, **fields: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key))
    jwk.update({"alg": "RS256", "use": "sig"})
    jwk.update(fields)
    return {name: value for name, value in jwk.items() if value is not None}


def test_only_rs256_signing_keys_of_2048_bits_are_accepted(signing_key: SigningKey) -> None:
    public = signing_key.private_key.public_key()
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505
    document = {
        "keys": [
            _jwk(public, kid="good"),
            _jwk(public, kid="rs512", alg="RS512"),
            _jwk(public, kid="no-alg", alg=None),
            _jwk(public, kid="enc", use="enc"),
            _jwk(public, kid="no-use", use=None),
            _jwk(public, kid="sign-only", key_ops=["sign"]),
            _jwk(public, kid="verify", key_ops=["verify"]),
            _jwk(signing_key.private_key, kid="private"),
            _jwk(small, kid="small"),
            _jwk(public, kid="bad kid!"),
            {"kty": "oct", "k": "c2VjcmV0", "alg": "RS256", "use": "sig", "kid": "oct"},
            {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "broken", "n": "!", "e": "AQAB"},
            _jwk(public, kid="twice"),
            _jwk(public, kid="twice"),
            "not-a-key",
        ]
    }
    assert sorted(parse_jwks(document)) == ["good", "verify"]


@pytest.mark.parametrize("document", [[], {}, {"keys": {}}, "keys", None])
def test_a_document_that_is_no_key_set_is_refused(document: Any) -> None:
    with pytest.raises(ValueError, match="JSON Web Key Set"):
        parse_jwks(document)


def test_the_url_must_be_http() -> None:
    for url in ("file:///etc/keys.json", "ftp://issuer.test/jwks.json", "jwks.json"):
        with pytest.raises(ValueError, match="http"):
            JwksCache(url)


async def _fetch_with(handler: Any, **options: Any) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        return await httpx_fetcher(client, **options)(JWKS_URL)


async def test_the_http_fetcher_reads_the_set(signing_key: SigningKey) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"keys": [signing_key.public_jwk()]})

    document = await _fetch_with(handler)
    assert list(parse_jwks(document)) == [signing_key.kid]
    assert [str(request.url) for request in seen] == [JWKS_URL]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        pytest.param(httpx.Response(500, json={"keys": []}), "HTTP 500", id="server-error"),
        pytest.param(
            httpx.Response(302, headers={"Location": "https://evil.test/keys.json"}),
            "HTTP 302",
            id="redirect-not-followed",
        ),
        pytest.param(httpx.Response(200, content=b"<html>"), "not JSON", id="not-json"),
        pytest.param(httpx.Response(200, content=b" " * 300_000), "larger", id="too-large"),
    ],
)
async def test_the_http_fetcher_refuses(response: httpx.Response, message: str) -> None:
    with pytest.raises(JwksUnavailable, match=message):
        await _fetch_with(lambda request: response)


async def test_the_http_fetcher_turns_transport_errors_into_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with pytest.raises(JwksUnavailable, match="ConnectTimeout"):
        await _fetch_with(handler)

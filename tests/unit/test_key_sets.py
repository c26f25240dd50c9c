"""Remote key sets: held per URL within the Cache-Control bounds, refetched for an unknown
``kid`` at most once per 10 s per owner, found through the issuer's metadata (whose
``issuer`` must match), kept through a failed refresh, and fetched once for many callers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from keyloft.services.key_sets import (
    DEFAULT_TTL,
    MAX_STALE,
    MAX_TTL,
    MIN_TTL,
    REFETCH_SECONDS,
    RemoteKeySets,
)
from keyloft.services.ports import RemoteDocument, RemoteFetchFailed
from tests.unit.fakes import FakeRemoteJson

URL = "https://partner.example/jwks.json"
ISSUER = "https://idp.example"


def jwk(kid: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return json.loads(ECAlgorithm.to_jwk(key)) | {"kid": kid}


class World:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.remote = FakeRemoteJson()
        self.sets = RemoteKeySets(self.remote, wall=lambda: self.now)

    def serve(self, url: str, body: object, max_age: float | None = None) -> None:
        self.remote.documents[url] = RemoteDocument(url, body, max_age)


@pytest.fixture
def world() -> World:
    return World()


async def kids(world: World, kid: str | None = None, owner: str = "client-1") -> list[str | None]:
    return [key.kid for key in await world.sets.client_keys(owner, URL, kid)]


@pytest.mark.parametrize(
    ("max_age", "held_for"),
    [(None, DEFAULT_TTL), (0, MIN_TTL), (5, MIN_TTL), (900, 900), (10**9, MAX_TTL)],
)
async def test_a_set_is_held_as_long_as_cache_control_allows_within_bounds(
    world: World, max_age: float | None, held_for: float
) -> None:
    world.serve(URL, {"keys": [jwk("a")]}, max_age)
    assert await kids(world) == ["a"]
    world.now += held_for - 1
    assert await kids(world) == ["a"]
    assert world.remote.fetched == [URL]
    world.now += 2
    await kids(world)
    assert world.remote.fetched == [URL, URL]


async def test_an_unknown_kid_refetches_at_most_once_per_ten_seconds(world: World) -> None:
    world.serve(URL, {"keys": [jwk("a")]}, 3600)
    await kids(world, "a")
    world.serve(URL, {"keys": [jwk("a"), jwk("b")]}, 3600)
    assert await kids(world, "b") == ["a", "b"]  # the owner rotated: fetched at once
    for made_up in range(20):
        await kids(world, f"nope-{made_up}")
    assert len(world.remote.fetched) == 2  # a flood of made-up kids costs the owner nothing
    world.now += REFETCH_SECONDS
    await kids(world, "still-nope")
    assert len(world.remote.fetched) == 3
    await kids(world, "nope-again", owner="client-2")  # the limit is per owner
    assert len(world.remote.fetched) == 4


async def test_a_failed_refresh_keeps_the_held_set_for_a_while(world: World) -> None:
    world.serve(URL, {"keys": [jwk("a")]}, 60)
    await kids(world)
    world.remote.documents[URL] = RemoteFetchFailed("timeout")
    world.now += 61
    assert await kids(world) == ["a"]
    world.now += MAX_STALE
    with pytest.raises(RemoteFetchFailed) as failed:
        await kids(world)
    assert failed.value.reason == "timeout"


async def test_many_callers_share_one_fetch(world: World) -> None:
    release = asyncio.Event()
    served = RemoteDocument(URL, {"keys": [jwk("a")]}, None)

    class Slow(FakeRemoteJson):
        async def get_json(self, url: str) -> RemoteDocument:
            self.fetched.append(url)
            await release.wait()
            return served

    world.remote = Slow()
    world.sets = RemoteKeySets(world.remote, wall=lambda: world.now)
    waiting = [asyncio.create_task(kids(world)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [["a"]] * 10
    assert world.remote.fetched == [URL]


async def test_an_issuer_s_keys_are_found_through_its_metadata(world: World) -> None:
    world.serve(
        f"{ISSUER}/.well-known/openid-configuration",
        {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"},
    )
    world.serve(f"{ISSUER}/keys", {"keys": [jwk("k1")]})
    assert [key.kid for key in await world.sets.issuer_keys(ISSUER, "k1")] == ["k1"]
    assert world.remote.fetched == [f"{ISSUER}/.well-known/openid-configuration", f"{ISSUER}/keys"]


async def test_rfc_8414_metadata_is_the_fallback(world: World) -> None:
    world.serve(
        f"{ISSUER}/.well-known/oauth-authorization-server",
        {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"},
    )
    world.serve(f"{ISSUER}/jwks", {"keys": [jwk("k1")]})
    assert [key.kid for key in await world.sets.issuer_keys(ISSUER, None)] == ["k1"]


@pytest.mark.parametrize(
    "metadata",
    [
        {"issuer": "https://evil.example", "jwks_uri": f"{ISSUER}/keys"},
        {"issuer": ISSUER},
        {"issuer": ISSUER, "jwks_uri": 7},
        ["not", "an", "object"],
    ],
)
async def test_metadata_of_another_issuer_or_without_keys_is_refused(
    world: World, metadata: object
) -> None:
    world.serve(f"{ISSUER}/.well-known/openid-configuration", metadata)
    world.serve(f"{ISSUER}/keys", {"keys": [jwk("k1")]})
    with pytest.raises(RemoteFetchFailed) as failed:
        await world.sets.issuer_keys(ISSUER, "k1")
    assert failed.value.reason == "metadata"
    assert f"{ISSUER}/keys" not in world.remote.fetched


async def test_a_refused_metadata_fetch_is_not_retried_elsewhere(world: World) -> None:
    world.remote.documents[f"{ISSUER}/.well-known/openid-configuration"] = RemoteFetchFailed(
        "address"
    )
    with pytest.raises(RemoteFetchFailed) as failed:
        await world.sets.issuer_keys(ISSUER, None)
    assert failed.value.reason == "address"
    assert world.remote.fetched == [f"{ISSUER}/.well-known/openid-configuration"]

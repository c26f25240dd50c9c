"""Outbound JSON fetches against real local servers: what is refused before connecting, what
is refused after, and that the request goes to the address that was checked."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import logging
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from keyloft.outbound import FetchPolicy, IPAddress, JsonFetcher, parse_max_age
from keyloft.services.ports import RemoteFetchFailed, RemoteJson
from tests.support.http_server import (
    Exchange,
    LocalServer,
    Route,
    free_port,
    private_tls,
    stream_forever,
    trickle,
)

DEV = FetchPolicy(allow_http=True)
KEYS = {
    "keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]
}


def json_route(body: object, headers: list[tuple[str, str]] | None = None) -> Route:
    def route(exchange: Exchange) -> None:
        exchange.reply(
            200, json.dumps(body).encode(), [("Content-Type", "application/json"), *(headers or [])]
        )

    return route


def status_route(status: int, headers: list[tuple[str, str]] | None = None) -> Route:
    def route(exchange: Exchange) -> None:
        exchange.reply(status, b'{"error": "no"}', headers or [])

    return route


def resolver(
    answers: dict[str, list[str]], calls: list[tuple[str, int]] | None = None
) -> Callable[[str, int], Awaitable[list[str]]]:
    """A resolver answering from ``answers`` (recording its calls), unknown names failing."""

    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append((host, port))
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    return resolve


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


@pytest.fixture
async def dev_fetcher() -> AsyncIterator[JsonFetcher]:
    async with JsonFetcher(DEV) as fetcher:
        yield fetcher


async def refusal(fetcher: JsonFetcher, url: str) -> str:
    with pytest.raises(RemoteFetchFailed) as failed:
        await fetcher.get_json(url)
    return failed.value.reason


async def test_fetcher_implements_the_port() -> None:
    async with JsonFetcher() as fetcher:
        port: RemoteJson = fetcher
        assert port.get_json == fetcher.get_json


# -- documents and their cache lifetime ------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "max_age"),
    [
        pytest.param(["public, max-age=300"], 300.0, id="max-age"),
        pytest.param(["max-age=60, s-maxage=600"], 600.0, id="s-maxage-wins"),
        pytest.param(['max-age="90"'], 90.0, id="quoted"),
        pytest.param(["no-store"], 0.0, id="no-store"),
        pytest.param(["max-age=300, no-cache"], 0.0, id="no-cache"),
        pytest.param([], None, id="absent"),
        pytest.param(["max-age=soon"], None, id="invalid"),
        pytest.param(["max-age=-5"], None, id="negative"),
        pytest.param(["MAX-AGE=30"], 30.0, id="case"),
    ],
)
def test_parse_max_age(cache_control: list[str], max_age: float | None) -> None:
    assert parse_max_age(cache_control) == max_age


@pytest.mark.parametrize(
    ("headers", "max_age"),
    [
        pytest.param([("Cache-Control", "public, max-age=300")], 300.0, id="max-age"),
        pytest.param([("Cache-Control", "no-store")], 0.0, id="no-store"),
        pytest.param([], None, id="none"),
        pytest.param(
            [("Cache-Control", "public"), ("Cache-Control", "max-age=45")], 45.0, id="two-headers"
        ),
    ],
)
async def test_a_good_document(
    server: LocalServer,
    dev_fetcher: JsonFetcher,
    headers: list[tuple[str, str]],
    max_age: float | None,
) -> None:
    server.routes["/jwks"] = json_route(KEYS, headers)
    url = server.url("/jwks?v=1#frag")

    document = await dev_fetcher.get_json(url)

    assert document.body == KEYS
    assert document.max_age == max_age
    assert document.url == url
    [seen] = server.requests
    assert seen.path == "/jwks?v=1"
    assert seen.headers["user-agent"] == "keyloft"
    assert "authorization" not in seen.headers


async def test_a_gzipped_document_is_decoded(server: LocalServer, dev_fetcher: JsonFetcher) -> None:
    def route(exchange: Exchange) -> None:
        exchange.reply(
            200, gzip.compress(json.dumps(KEYS).encode()), [("Content-Encoding", "gzip")]
        )

    server.routes["/jwks"] = route

    assert (await dev_fetcher.get_json(server.url("/jwks"))).body == KEYS
    assert server.requests[0].headers["accept-encoding"] == "gzip"


async def test_concurrent_fetches_share_one_fetcher(
    server: LocalServer, dev_fetcher: JsonFetcher
) -> None:
    for n in range(5):
        server.routes[f"/doc{n}"] = json_route({"n": n})

    documents = await asyncio.gather(
        *(dev_fetcher.get_json(server.url(f"/doc{n}")) for n in range(5))
    )

    assert [d.body for d in documents] == [{"n": n} for n in range(5)]


async def test_cookies_are_neither_kept_nor_sent(
    server: LocalServer, dev_fetcher: JsonFetcher
) -> None:
    server.routes["/first"] = json_route({}, [("Set-Cookie", "session=abc; Path=/")])
    server.routes["/second"] = json_route({})

    await dev_fetcher.get_json(server.url("/first"))
    await dev_fetcher.get_json(server.url("/second"))

    assert [seen.path for seen in server.requests] == ["/first", "/second"]
    assert "cookie" not in server.requests[1].headers


# -- refused before connecting ----------------------------------------------------------------


async def test_http_is_refused_unless_allowed(server: LocalServer) -> None:
    server.routes["/jwks"] = json_route(KEYS)
    async with JsonFetcher() as fetcher:
        assert await refusal(fetcher, server.url("/jwks")) == "scheme"
    assert server.connections == 0


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.2", "[::ffff:127.0.0.1]"])
async def test_loopback_is_refused_unless_allowed(server: LocalServer, host: str) -> None:
    server.routes["/jwks"] = json_route(KEYS)
    url = f"https://{host}:{server.port}/jwks"
    async with JsonFetcher() as fetcher:
        assert await refusal(fetcher, url) == "address"
    assert server.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://idp.test/jwks",
        "file:///etc/passwd",
        "/relative/jwks",
        "https:///no-host",
        "not a url at all",
    ],
)
async def test_other_schemes_and_malformed_urls_are_refused(url: str) -> None:
    async with JsonFetcher(DEV) as fetcher:
        assert await refusal(fetcher, url) == "scheme"


@pytest.mark.parametrize("userinfo", ["user:pw@", "user@", ":pw@"])
async def test_credentials_in_the_url_are_refused(
    server: LocalServer, dev_fetcher: JsonFetcher, userinfo: str
) -> None:
    server.routes["/jwks"] = json_route(KEYS)
    url = f"http://{userinfo}127.0.0.1:{server.port}/jwks"
    assert await refusal(dev_fetcher, url) == "scheme"
    assert server.connections == 0


async def test_a_refused_address_among_the_answers_stops_the_fetch(server: LocalServer) -> None:
    server.routes["/jwks"] = json_route(KEYS)

    def no_private(address: IPAddress) -> bool:
        return not address.is_private or address.is_loopback

    resolve = resolver({"idp.test": ["127.0.0.1", "10.0.0.7"]})
    async with JsonFetcher(DEV, resolve=resolve, address_allowed=no_private) as fetcher:
        with pytest.raises(RemoteFetchFailed) as failed:
            await fetcher.get_json(server.url("/jwks", host="idp.test"))

    assert failed.value.reason == "address"
    assert "10.0.0.7" in failed.value.detail
    assert server.connections == 0  # not even to the allowed 127.0.0.1


async def test_the_address_rule_sees_every_answer(server: LocalServer) -> None:
    judged: list[IPAddress] = []

    def refuse_all(address: IPAddress) -> bool:
        judged.append(address)
        return False

    resolve = resolver({"idp.test": ["10.0.0.7"]})
    async with JsonFetcher(DEV, resolve=resolve, address_allowed=refuse_all) as fetcher:
        assert await refusal(fetcher, server.url("/jwks", host="idp.test")) == "address"
    assert judged == [ipaddress.ip_address("10.0.0.7")]
    assert server.connections == 0


@pytest.mark.parametrize("answers", [{}, {"idp.test": []}, {"idp.test": ["not-an-ip"]}])
async def test_unresolvable_hosts(answers: dict[str, list[str]]) -> None:
    async with JsonFetcher(DEV, resolve=resolver(answers)) as fetcher:
        assert await refusal(fetcher, "http://idp.test/jwks") == "resolve"


# -- the request goes to the checked address --------------------------------------------------


async def test_the_checked_address_is_connected_to_with_the_original_host(
    server: LocalServer,
) -> None:
    server.routes["/jwks"] = json_route(KEYS)
    calls: list[tuple[str, int]] = []
    resolve = resolver({"idp.test": ["127.0.0.1"]}, calls)
    url = server.url("/jwks", host="idp.test")

    async with JsonFetcher(DEV, resolve=resolve) as fetcher:
        document = await fetcher.get_json(url)

    assert document.body == KEYS
    assert document.url == url
    assert calls == [("idp.test", server.port)]  # resolved once, by the fetcher's resolver
    [seen] = server.requests
    assert seen.headers["host"] == f"idp.test:{server.port}"


async def test_https_verifies_the_original_hostname() -> None:
    tls = private_tls("idp.test")
    resolve = resolver({"idp.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    with LocalServer({"/jwks": json_route(KEYS)}, tls=tls.server, keep_alive=True) as server:
        async with JsonFetcher(DEV, resolve=resolve, ssl_context=tls.client) as fetcher:
            document = await fetcher.get_json(server.url("/jwks", host="idp.test"))
            # Same address, but the certificate does not name this host.
            wrong = await refusal(fetcher, server.url("/jwks", host="other.test"))

    assert document.body == KEYS
    assert server.requests[0].headers["host"] == f"idp.test:{server.port}"
    # A connection verified for idp.test was not reused for other.test at the same address.
    assert server.connections == 2
    assert server.server_names == ["idp.test", "other.test"]
    assert wrong == "connect"
    assert len(server.requests) == 1


async def test_connections_are_not_reused(dev_fetcher: JsonFetcher) -> None:
    with LocalServer({"/jwks": json_route(KEYS)}, keep_alive=True) as server:
        await dev_fetcher.get_json(server.url("/jwks"))
        await dev_fetcher.get_json(server.url("/jwks"))
    assert server.connections == 2


async def test_a_refused_connection(dev_fetcher: JsonFetcher) -> None:
    assert await refusal(dev_fetcher, f"http://127.0.0.1:{free_port()}/jwks") == "connect"


async def test_the_next_address_is_tried_when_one_refuses_connections(
    server: LocalServer,
) -> None:
    server.routes["/jwks"] = json_route(KEYS)
    # Nothing listens on 127.0.0.2 at the server's port (it is bound to 127.0.0.1 only).
    resolve = resolver({"idp.test": ["127.0.0.2", "127.0.0.1"]})
    async with JsonFetcher(DEV, resolve=resolve) as fetcher:
        document = await fetcher.get_json(server.url("/jwks", host="idp.test"))
    assert document.body == KEYS


# -- refused after connecting -----------------------------------------------------------------


async def test_redirects_are_not_followed(dev_fetcher: JsonFetcher) -> None:
    with LocalServer({"/jwks": json_route(KEYS)}) as target:
        moved = status_route(302, [("Location", target.url("/jwks"))])
        with LocalServer({"/jwks": moved}) as server:
            assert await refusal(dev_fetcher, server.url("/jwks")) == "redirect"
    assert len(server.requests) == 1
    assert target.connections == 0


@pytest.mark.parametrize("status", [404, 500, 401])
async def test_error_statuses(server: LocalServer, dev_fetcher: JsonFetcher, status: int) -> None:
    server.routes["/jwks"] = status_route(status)
    assert await refusal(dev_fetcher, server.url("/jwks")) == "status"


@pytest.mark.parametrize(
    "body",
    [
        b"hello",
        b"[1, 2, 3]",
        b'"a string"',
        b"",
        b'{"a": NaN}',
        b"[" * 100_000,
        b'{"a": 1',
        b"\xff\xfe\x00garbage",
    ],
    ids=["text", "array", "string", "empty", "nan", "deep", "truncated", "binary"],
)
async def test_not_json_objects(server: LocalServer, dev_fetcher: JsonFetcher, body: bytes) -> None:
    server.routes["/jwks"] = lambda exchange: exchange.reply(200, body)
    assert await refusal(dev_fetcher, server.url("/jwks")) == "not_json"


async def test_an_unsupported_content_encoding(
    server: LocalServer, dev_fetcher: JsonFetcher
) -> None:
    server.routes["/jwks"] = lambda exchange: exchange.reply(
        200, b"\x00\x01", [("Content-Encoding", "br")]
    )
    assert await refusal(dev_fetcher, server.url("/jwks")) == "not_json"


# -- time ---------------------------------------------------------------------------------------


async def test_a_slow_server_times_out(server: LocalServer) -> None:
    def slow(exchange: Exchange) -> None:
        exchange.pause(3.0)
        exchange.reply(200, b"{}")

    server.routes["/jwks"] = slow
    policy = FetchPolicy(allow_http=True, read_timeout=0.3, total_timeout=2.0)

    started = time.monotonic()
    async with JsonFetcher(policy) as fetcher:
        assert await refusal(fetcher, server.url("/jwks")) == "timeout"
    assert time.monotonic() - started < 1.5


async def test_a_trickling_server_meets_the_overall_deadline(server: LocalServer) -> None:
    # A byte every 0.1 s never trips the 0.5 s read timeout; only the 0.8 s deadline can stop it.
    server.routes["/jwks"] = trickle(b" ", every=0.1)
    policy = FetchPolicy(allow_http=True, read_timeout=0.5, total_timeout=0.8)

    started = time.monotonic()
    async with JsonFetcher(policy) as fetcher, asyncio.timeout(3.0):  # fail, not hang
        assert await refusal(fetcher, server.url("/jwks")) == "timeout"
    elapsed = time.monotonic() - started

    assert 0.75 <= elapsed < 1.5
    [ended] = await asyncio.to_thread(server.wait_ended)
    assert ended.written >= 5  # it kept sending all along


# -- size -----------------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    body = b'{"pad": "' + b"x" * (size - 11) + b'"}'
    assert len(body) == size
    return body


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "close"])
async def test_the_size_cap_is_exact(server: LocalServer, declare_length: bool) -> None:
    def route(size: int) -> Route:
        def reply(exchange: Exchange) -> None:
            if declare_length:
                exchange.reply(200, padded(size))
            else:
                exchange.start(200)
                exchange.write(padded(size))

        return reply

    server.routes["/fits"] = route(1000)
    server.routes["/over"] = route(1001)
    async with JsonFetcher(FetchPolicy(allow_http=True, max_bytes=1000)) as fetcher:
        document = await fetcher.get_json(server.url("/fits"))
        assert document.body == json.loads(padded(1000))
        assert await refusal(fetcher, server.url("/over")) == "too_large"


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "close"])
async def test_a_huge_body_is_cut_off_early(server: LocalServer, declare_length: bool) -> None:
    # The server would write forever; only the client hanging up stops it.
    headers = [("Content-Length", str(10 * 1024**3))] if declare_length else []
    server.routes["/jwks"] = stream_forever(b'{"k": "' + b"x" * 65536, headers)

    started = time.monotonic()
    async with JsonFetcher(DEV) as fetcher:
        assert await refusal(fetcher, server.url("/jwks")) == "too_large"
    elapsed = time.monotonic() - started

    [ended] = await asyncio.to_thread(server.wait_ended)
    assert ended.hung_up
    assert elapsed < 1.0
    assert ended.written < 64 * 1024**2  # socket buffers at most, not the body


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    server: LocalServer,
) -> None:
    def route(exchange: Exchange) -> None:
        exchange.start(200, [("Content-Length", "1001")])
        exchange.pause(3.0)  # no body: a fetcher waiting for one would time out instead

    server.routes["/jwks"] = route
    policy = FetchPolicy(allow_http=True, max_bytes=1000, read_timeout=2.0)

    started = time.monotonic()
    async with JsonFetcher(policy) as fetcher:
        assert await refusal(fetcher, server.url("/jwks")) == "too_large"
    assert time.monotonic() - started < 1.0


async def test_what_arrives_is_capped_even_when_it_decodes_to_nothing(
    server: LocalServer,
) -> None:
    # A complete gzip member, then endless bytes after it that decode to nothing.
    def route(exchange: Exchange) -> None:
        exchange.start(200, [("Content-Encoding", "gzip")])
        exchange.write(gzip.compress(b"{}"))
        while not exchange.stopping:
            exchange.write(b"\0" * 65536)

    server.routes["/jwks"] = route
    async with JsonFetcher(DEV) as fetcher, asyncio.timeout(3.0):  # fail, not hang
        assert await refusal(fetcher, server.url("/jwks")) == "too_large"
    [ended] = await asyncio.to_thread(server.wait_ended)
    assert ended.hung_up


async def test_a_gzip_bomb_is_cut_off_without_expanding(server: LocalServer) -> None:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"0" * (1 << 20)
    bomb = squeeze.compress(b'{"k": "') + b"".join(squeeze.compress(zeros) for _ in range(32))
    bomb += squeeze.flush()
    assert len(bomb) < 256 * 1024  # small enough to pass the cap on what arrives

    server.routes["/jwks"] = lambda exchange: exchange.reply(
        200, bomb, [("Content-Encoding", "gzip")]
    )

    async with JsonFetcher(DEV) as fetcher:
        tracemalloc.start()
        try:
            reason = await refusal(fetcher, server.url("/jwks"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert reason == "too_large"
    # 32 MiB once decoded; decoding at most the cap at a time keeps the fetch far below that.
    assert peak < 4 * 1024**2


# -- logs -----------------------------------------------------------------------------------------


async def test_refusals_are_logged_with_scheme_and_host_only(
    server: LocalServer, dev_fetcher: JsonFetcher, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="keyloft.outbound"):
        await refusal(dev_fetcher, server.url("/missing?token=s3cret"))

    [record] = [r for r in caplog.records if r.name == "keyloft.outbound"]
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert "status" in message
    assert "http://127.0.0.1" in message
    assert "s3cret" not in message
    assert "/missing" not in message

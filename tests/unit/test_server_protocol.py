"""The serving protocol sends what one event-loop turn writes in one write, loses nothing on
close, drops what was pending on abort, and answers HTTP exactly as uvicorn's own protocol."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import uvicorn

from keyloft.web import server
from keyloft.web.server import SERVER_OPTIONS, CoalescingTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self.events.append("write")

    def close(self) -> None:
        self.events.append("close")

    def abort(self) -> None:
        self.events.append("abort")

    def is_closing(self) -> bool:
        return "close" in self.events

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555)}.get(name, default)


async def _next_turn() -> None:
    await asyncio.sleep(0)


async def test_writes_of_one_turn_leave_together() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(memoryview(b"body"))
    transport.write(b"")
    assert real.writes == []
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
    await _next_turn()
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    await _next_turn()
    assert real.writes[1:] == [b"next"]
    assert transport.get_extra_info("peername") == ("127.0.0.1", 5555)


async def test_close_sends_what_is_pending_first_and_abort_drops_it() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert real.events == ["write", "close"]
    assert real.writes == [b"last words"]
    await _next_turn()  # the flush scheduled for the turn finds nothing left
    assert real.writes == [b"last words"]

    other = RecordingTransport()
    aborted = CoalescingTransport(other, asyncio.get_running_loop())
    aborted.write(b"never")
    aborted.abort()
    await _next_turn()
    assert other.events == ["abort"]


async def test_a_large_answer_is_not_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "FLUSH_BYTES", 10)
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"12345")
    assert real.writes == []
    transport.write(b"678901")
    assert real.writes == [b"12345678901"]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = b"echo:" + body
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(answer)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": answer})


async def _exchange(port: int, raw: bytes, answers: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    received = b""
    while received.count(b"HTTP/1.1 200") < answers or not received.endswith(b"echo:abc"):
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        received += chunk
    writer.close()
    return received


async def test_a_real_server_answers_pipelined_keep_alive_requests() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = {k: v for k, v in SERVER_OPTIONS.items() if k != "access_log"}
    config = uvicorn.Config(_app, port=port, log_level="warning", lifespan="off", **options)
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    async with asyncio.timeout(10):
        while not running.started:
            await asyncio.sleep(0.01)
    try:
        request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        received = await _exchange(port, request * 3, answers=3)
    finally:
        running.should_exit = True
        await task
    assert config.http_protocol_class is server.HttpProtocol
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert received.count(b"content-length: 8\r\n") == 3
    assert received.endswith(b"\r\n\r\necho:abc")

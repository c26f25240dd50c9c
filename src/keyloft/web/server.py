"""How ``keyloft serve`` runs uvicorn: its options, and an HTTP protocol whose answers leave
in one write.

The protocol is uvicorn's own (httptools) with its transport wrapped so that everything
written during one turn of the event loop is sent together in one system call (at once past
``FLUSH_BYTES``, and before the connection closes); parsing, keep-alive, flow control and
timeouts stay uvicorn's. Why, and what it saves: docs/performance.md, "One write per answer".
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FLUSH_BYTES = 65_536

# The options both ``keyloft serve`` and the bench's hello-world ceiling run uvicorn with.
SERVER_OPTIONS: dict[str, Any] = {
    "http": "keyloft.web.server:HttpProtocol",
    "ws": "none",
    "access_log": False,  # Keyloft writes its own access line (web/middleware.py)
    "proxy_headers": False,  # the client address is read behind trusted proxies only
    "server_header": False,
}


class CoalescingTransport(asyncio.Transport):
    """A transport that joins the writes of one event-loop turn into one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Hand what was written so far to the real transport."""
        if not self._pending:
            return
        pending = self._pending
        self._pending = []
        self._size = 0
        if len(pending) == 1:
            self._transport.write(pending[0])
        else:  # one system call for them all (scatter-gather), no copy into one buffer here
            self._transport.writelines(pending)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = []
        self._size = 0
        self._transport.abort()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the asyncio.Transport methods without being subclasses.
        super().connection_made(CoalescingTransport(cast(asyncio.Transport, transport), self.loop))

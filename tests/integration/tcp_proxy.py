"""A small TCP proxy for fault tests: put it between a node and a server, then break the link.

``cut()`` resets every live connection and resets each new one as soon as it is accepted, as
when the server goes away or a firewall rejects the traffic. ``stall()`` keeps connections
open but forwards nothing, in either direction, as in a network partition that drops packets
silently. ``restore()`` forwards again (connections broken meanwhile stay broken).
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

_CHUNK = 64 * 1024


class _Link:
    """One proxied connection: the caller's side and the server's side."""

    def __init__(
        self,
        caller: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.caller = caller
        self.server = server

    def abort(self) -> None:
        for _, writer in (self.caller, self.server):
            writer.transport.abort()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target_host:target_port`` until told otherwise."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._cut = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.accepted = 0

    @property
    def port(self) -> int:
        assert self._server is not None, "the proxy is not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def is_cut(self) -> bool:
        return self._cut

    @property
    def live_connections(self) -> int:
        return len(self._links)

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        self._links.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def cut(self) -> None:
        """Reset every live connection, and every new one as soon as it arrives."""
        self._cut = True
        self._flowing.set()
        for link in list(self._links):
            link.abort()
        self._links.clear()

    def stall(self) -> None:
        """Forward nothing more, but keep every connection (old and new) open: a black hole."""
        self._flowing.clear()

    def restore(self) -> None:
        """Accept and forward again."""
        self._cut = False
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        await self._flowing.wait()
        if self._cut:
            writer.transport.abort()
            return
        try:
            server = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        link = _Link((reader, writer), server)
        self._links.add(link)
        pumps = [
            asyncio.create_task(self._pump(reader, server[1], link)),
            asyncio.create_task(self._pump(server[0], writer, link)),
        ]
        self._tasks.update(pumps)
        for pump in pumps:
            pump.add_done_callback(self._tasks.discard)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link
    ) -> None:
        try:
            while True:
                data = await source.read(_CHUNK)
                if not data:
                    break
                await self._flowing.wait()
                if link not in self._links:
                    return
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One side is gone: close the other, so nothing waits for bytes that cannot come.
            if link in self._links:
                self._links.discard(link)
                link.abort()

"""An httpx transport for the gateway → service hop: HTTP/1.1 keep-alive connections on plain
asyncio, parsed by httptools (the C parser uvicorn uses).

Why not httpx's default transport: on this 2-core machine httpcore's pool (anyio streams,
socket-liveness polls of every idle connection on every request) cost ~0.7 ms of CPU per
request — more than the service behind it. This transport keeps the httpx.AsyncClient API the
gateway uses (timeouts from the client, streamed bodies both ways, httpx exceptions) and does
the minimum HTTP/1.1 a proxy to our own services needs: no decompression, no header rewriting,
no redirects, no proxies. Bodies are passed through byte for byte.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator

import httptools
import httpx

_CHUNKED_END = b"0\r\n\r\n"


class _Connection(asyncio.Protocol):
    """One upstream TCP connection; one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.error: BaseException | None = None
        self.idle_since = 0.0
        self._waiter: asyncio.Future | None = None
        self._write_paused = False
        self._write_waiter: asyncio.Future | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = True
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.received_any = False
        self.reading_paused = False
        self.head_request = False
        self.until_close = False

    # -- asyncio callbacks --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = httpx.RemoteProtocolError(f"invalid HTTP from the service: {exc}")
            self.close()
        self._wake()

    def eof_received(self) -> bool:
        self._lost()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)

    # -- httptools callbacks --

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.headers_done = True
        names = {name.lower() for name, _ in self.headers}
        self.until_close = b"content-length" not in names and b"transfer-encoding" not in names
        if self.head_request or self.status in (204, 304):
            # No body follows; the parser may not know that (HEAD), so never reuse after HEAD.
            self.complete = True
            self.until_close = False
            if self.head_request:
                self.keep_alive = False

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > 262_144 and not self.reading_paused and self.transport is not None:
            self.transport.pause_reading()  # the downstream client is slower than the service
            self.reading_paused = True

    def on_message_complete(self) -> None:
        self.complete = True

    # -- helpers --

    def _lost(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.headers_done and self.until_close and not self.complete:
            self.complete = True  # body delimited by the connection's end
            self.keep_alive = False
        if self.error is None and not self.complete:
            self.error = (httpx.ReadError("the service closed the connection mid-response") if self.received_any
                          else httpx.RemoteProtocolError("the service closed the connection without a response"))
        self._wake()
        self.resume_writing()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.closed = True
        self._wake()

    async def wait(self, timeout: float | None) -> None:
        """Until new data, completion or failure; raises httpx.ReadTimeout."""
        self._waiter = self.loop.create_future()
        handle = self.loop.call_later(timeout, self._timed_out, self._waiter) if timeout is not None else None
        try:
            await self._waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    @staticmethod
    def _timed_out(waiter: asyncio.Future) -> None:
        if not waiter.done():
            waiter.set_exception(httpx.ReadTimeout("the service did not answer in time"))

    async def write(self, data: bytes, timeout: float | None) -> None:
        if self.closed or self.transport is None:
            raise self.error or httpx.WriteError("the connection to the service is closed")
        self.transport.write(data)
        if self._write_paused:
            self._write_waiter = self.loop.create_future()
            try:
                await asyncio.wait_for(self._write_waiter, timeout)
            except TimeoutError:
                raise httpx.WriteTimeout("the service is not reading the request") from None
            finally:
                self._write_waiter = None
            if self.closed:
                raise self.error or httpx.WriteError("the service closed the connection")

    def take_chunks(self) -> list[bytes]:
        out = list(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self.reading_paused and self.transport is not None and not self.closed:
            self.transport.resume_reading()
            self.reading_paused = False
        return out


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(self, transport: "UpstreamTransport", key: tuple, connection: _Connection,
                 read_timeout: float | None) -> None:
        self._transport = transport
        self._key = key
        self._connection = connection
        self._read_timeout = read_timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            for chunk in connection.take_chunks():
                yield chunk
            if connection.complete:
                for chunk in connection.take_chunks():
                    yield chunk
                return
            if connection.error is not None:
                raise connection.error
            await connection.wait(self._read_timeout)

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._transport._release(self._key, self._connection)


class UpstreamTransport(httpx.AsyncBaseTransport):
    """Keep-alive pool per origin; at most `max_connections` requests in flight in total."""

    def __init__(self, *, max_connections: int = 200, keepalive_expiry: float = 3.0) -> None:
        self._idle: dict[tuple, list[_Connection]] = {}
        self._slots = asyncio.Semaphore(max_connections)
        self._keepalive_expiry = keepalive_expiry

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port or (443 if url.raw_scheme == b"https" else 80))
        if key[0] != b"http":
            raise httpx.UnsupportedProtocol("the upstream transport speaks plain HTTP inside the cluster network")
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), timeouts.get("pool"))
            except TimeoutError:
                raise httpx.PoolTimeout("no free upstream connection") from None
        else:
            await self._slots.acquire()
        try:
            connection = await self._connection(key, timeouts.get("connect"))
            return await self._exchange(request, key, connection, timeouts)
        except BaseException:
            self._slots.release()
            raise

    async def _connection(self, key: tuple, connect_timeout: float | None) -> _Connection:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self._keepalive_expiry:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(loop), key[1].decode("ascii"), key[2]), connect_timeout)
        except TimeoutError:
            raise httpx.ConnectTimeout("connecting to the service timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to the service: {exc.strerror or exc}") from None
        return protocol

    async def _exchange(self, request: httpx.Request, key: tuple, connection: _Connection,
                        timeouts: dict) -> httpx.Response:
        connection._reset()
        connection.head_request = request.method == "HEAD"
        target = request.url.raw_path
        head = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
        chunked = False
        for name, value in request.headers.raw:
            if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
                chunked = True
            head += [name, b": ", value, b"\r\n"]
        head.append(b"\r\n")
        write_timeout = timeouts.get("write")
        try:
            stream = request.stream
            if isinstance(stream, httpx.ByteStream):
                body = b"".join([part async for part in stream])  # already in memory
                await connection.write(b"".join(head) + (b"%x\r\n%s\r\n%s" % (len(body), body, _CHUNKED_END)
                                                          if chunked and body else body), write_timeout)
            else:
                await connection.write(b"".join(head), write_timeout)
                async for part in stream:  # type: ignore[union-attr]
                    if part:
                        await connection.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part, write_timeout)
                if chunked:
                    await connection.write(_CHUNKED_END, write_timeout)
            read_timeout = timeouts.get("read")
            while not connection.headers_done:
                if connection.error is not None:
                    raise connection.error
                await connection.wait(read_timeout)
        except BaseException:
            connection.close()
            raise
        return httpx.Response(
            connection.status, headers=connection.headers,
            stream=_ResponseBody(self, key, connection, read_timeout),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def _release(self, key: tuple, connection: _Connection) -> None:
        self._slots.release()
        if connection.complete and connection.keep_alive and not connection.closed and connection.error is None \
                and not connection.chunks:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(key, []).append(connection)
        else:
            connection.close()

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

"""HTTP/1.1 to providers reached without a proxy: kept-alive connections on httptools' parser.

Why not aiohttp on this path: the relay's one event loop thread is what limits its throughput,
and aiohttp's client cost that thread 96 us of CPU per request against 28 us for these
connections (64 concurrent POSTs to the test upstream, uvloop, one process; the same answer
bytes). Parsing stays with a library (``httptools``, llhttp, the parser of Node and uvicorn);
what is here is the little an LLM relay needs around it: one request at a time per connection,
idle connections reused per origin and TLS context, bodies framed by ``Content-Length``,
``chunked`` or the connection's end, gzip and deflate decoded, informational (1xx) answers
skipped, redirects returned as they are. aiohttp still carries requests through a proxy
(``clients.py``), where CONNECT tunnels and TLS inside TLS are worth its cost.

A request that is cancelled (the caller left) or runs out of time aborts its connection, so the
provider sees the client go, and the connection is never reused. Nothing here knows connectors;
failures leave as ``TransportError`` in the words of ``failures.py``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, ItemsView, Iterator, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from llmrelay.errors import TransportError
from llmrelay.transport.decoding import Decoder, ExpansionLimit
from llmrelay.transport.failures import (
    connect_failed,
    hang_up,
    parse_error,
    timed_out,
    tls_failure,
    too_large,
)

KEEPALIVE_S = 15.0
"""An idle connection is closed this long after its last answer (aiohttp's default too), or
sooner when the server's ``Keep-Alive: timeout=`` says so; ``actions.idle_connection_timeout_s``."""
CONNECTIONS_PER_ORIGIN = 1000
"""Open connections per origin and TLS context; further requests wait for one to be free."""
READ_HIGH_WATER_BYTES = 256 * 1024
"""A stream whose reader falls this far behind stops reading the socket until it catches up."""
_READ_LOW_WATER_BYTES = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
"""Never taken from the caller: the body is always framed by llmrelay's own Content-Length."""
_SAFE_PATH = "/%:@!$&'()*+,;=-._~?"


class Headers(Mapping[str, str]):
    """An answer's headers, names compared without case; a repeated name keeps every value
    (``items()``). Decoded on first use: most answers relayed whole are never asked
    for a header, and decoding them cost 5 us of every execution on the bench machine."""

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._decoded: CIMultiDictProxy[str] | None = None

    @property
    def _headers(self) -> CIMultiDictProxy[str]:
        if self._decoded is None:
            pairs = ((n.decode("latin-1"), v.decode("latin-1")) for n, v in self._raw)
            self._decoded = CIMultiDictProxy(CIMultiDict(pairs))
        return self._decoded

    def __getitem__(self, name: str) -> str:
        return self._headers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._raw)

    def items(self) -> ItemsView[str, str]:
        return self._headers.items()

    def __repr__(self) -> str:
        return f"Headers({list(self._headers.items())!r})"


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class RequestTarget:
    """What a URL comes to on the wire: where to connect, the request line's target, ``Host``."""

    origin: Origin
    target: str
    host_header: str

    @classmethod
    def of(cls, url: str) -> RequestTarget:
        """Raises ``TransportError`` for a URL that cannot be requested (checked long before,
        when the connector was saved; this is the transport's own guard)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise TransportError(f"Invalid URL: {url}", code="ERR_INVALID_URL") from None
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise TransportError(f"Invalid URL: {url}", code="ERR_INVALID_URL")
        host = parts.hostname
        default = _DEFAULT_PORTS[parts.scheme]
        shown = f"[{host}]" if ":" in host else host
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        if not target.isascii() or " " in target:
            target = quote(target, safe=_SAFE_PATH)
        return cls(
            Origin(parts.scheme, host, port or default),
            target,
            shown if port in (None, default) else f"{shown}:{port}",
        )


@dataclass(frozen=True, slots=True)
class Response:
    """A whole answer; ``body`` is decoded (no ``Content-Encoding`` left)."""

    status: int
    headers: Headers
    body: bytes


def request_head(target: RequestTarget, headers: Mapping[str, str], body_length: int) -> bytes:
    """The request line and headers of a POST. ``Content-Length`` is always llmrelay's own;
    ``Host``, ``Accept`` and ``Accept-Encoding`` are added unless ``headers`` name them."""
    lines = [f"POST {target.target} HTTP/1.1\r\n"]
    named: set[str] = set()
    for name, value in headers.items():
        lowered = name.lower()
        if lowered not in _FRAMING_HEADERS:
            named.add(lowered)
            lines.append(f"{name}: {_checked(name, value)}\r\n")
    if "host" not in named:
        lines.insert(1, f"Host: {target.host_header}\r\n")
    if "accept" not in named:
        lines.append("Accept: */*\r\n")
    if "accept-encoding" not in named:
        lines.append("Accept-Encoding: gzip, deflate\r\n")
    lines.append(f"Content-Length: {body_length}\r\n\r\n")
    return "".join(lines).encode()


def _checked(name: str, value: str) -> str:
    if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
        raise TransportError(
            f'Invalid character in header content ["{name}"]', code="ERR_INVALID_CHAR"
        )
    return value


class _Connection(asyncio.Protocol):
    """One connection and the response being read on it (one request at a time)."""

    def __init__(self, pool: OriginPool) -> None:
        self._pool = pool
        self.loop = pool.loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.expires_at = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.framed = True
        self.encoding = b""
        self.server_keepalive_s: float | None = None
        self.error: BaseException | None = None
        self.limit_bytes: int | None = None
        self._busy = False
        self._streaming = False
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    # --- the exchange, as its task sees it ------------------------------------------------

    def send(self, head: bytes, body: bytes, *, streaming: bool, limit_bytes: int | None) -> None:
        assert self.transport is not None
        self._reset()
        self._busy = True
        self._streaming = streaming
        self.limit_bytes = limit_bytes
        self.transport.write(head + body)

    async def wait(self) -> None:
        """Until something the reader waits for happened (or the connection failed)."""
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def take_chunks(self) -> list[bytes]:
        chunks = list(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()
        return chunks

    def finish(self) -> None:
        """The response was read to its end: back to the pool, or closed if it cannot be kept."""
        self._busy = False
        if self.keep_alive and not self.closed:
            self._pool.release(self)
        else:
            self.abort()

    def abort(self) -> None:
        """Close at once (mid-answer too); the server sees the connection go."""
        self._busy = False
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
            self._pool.forget(self)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def time_out(self, timeout_s: float) -> None:
        self.fail(timed_out(timeout_s))

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not its subclasses
        self._pool.adopt(self)

    def data_received(self, data: bytes) -> None:
        if not self._busy:  # bytes on an idle connection: it is no longer usable
            self.abort()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(parse_error(str(exc)))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        was_closed, self.closed = self.closed, True
        if self._busy and not self.complete:
            if self.head_done and not self.framed and exc is None:
                self.complete = True  # a body delimited by the connection's end has ended
                self._wake()
            else:
                self.fail(hang_up())
        if not was_closed:
            self._pool.forget(self)

    # --- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes | None) -> None:
        self.raw_headers.append((name, value or b""))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # informational: the real answer follows
            self.raw_headers = []
            return
        self.status = status
        self.head_done = True
        length: bytes | None = None
        framed = status in (204, 304)
        for name, value in self.raw_headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length, framed = value, True
            elif lowered == b"transfer-encoding":
                framed = True
            elif lowered == b"content-encoding":
                self.encoding = value.strip().lower()
            elif lowered == b"keep-alive":
                self.server_keepalive_s = _keepalive_timeout_s(value)
        self.framed = framed
        limit = self.limit_bytes
        if limit is not None and length is not None and length.isdigit() and int(length) > limit:
            self.fail(too_large(limit))  # refused before a byte of it is read
            self.abort()
            return
        if self._streaming:
            self._wake()

    def on_body(self, body: bytes) -> None:
        if not self.head_done:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        limit = self.limit_bytes
        if limit is not None and self.buffered > limit:
            self.fail(too_large(limit))
            self.abort()
            return
        if self._streaming:
            if self.buffered > READ_HIGH_WATER_BYTES and not self._paused and self.transport:
                self._paused = True
                self.transport.pause_reading()
            self._wake()

    def on_message_complete(self) -> None:
        if not self.head_done:
            return  # the end of an informational answer
        self.keep_alive = self._parser.should_keep_alive()
        self.complete = True
        self._wake()


def _keepalive_timeout_s(value: bytes) -> float | None:
    """The ``timeout`` of a ``Keep-Alive: timeout=5, max=100`` header, if it has a valid one."""
    for part in value.split(b","):
        name, _, number = part.partition(b"=")
        if name.strip().lower() == b"timeout":
            number = number.strip()
            return float(number) if number.isdigit() else None
    return None


class OriginPool:
    """Kept-alive connections to one origin with one TLS context, most recently used first.

    An idle connection is closed when its keep-alive time is up, by a timer, not only when a
    request would have reused it: after a burst of 1,000 concurrent requests the connections
    stayed open until the next request came, however long that took. One timer per pool, at
    the earliest expiry; it is only set while some connection is idle.
    """

    def __init__(
        self,
        origin: Origin,
        ssl_context: ssl.SSLContext | None,
        *,
        limit: int = CONNECTIONS_PER_ORIGIN,
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self.origin = origin
        self.loop = asyncio.get_running_loop()
        self._ssl = ssl_context if origin.scheme == "https" else None
        self._idle: list[_Connection] = []
        self._connections: set[_Connection] = set()
        self._connecting = 0
        self._limit = limit
        self._keepalive_s = keepalive_s
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        self.closed = False

    async def acquire(self, timeout_s: float) -> _Connection:
        """An idle connection, or a new one; waiting for a free one and connecting (TLS
        handshake included) within ``timeout_s``."""
        connection = self._idle_connection()
        if connection is not None:
            return connection
        try:
            async with asyncio.timeout(timeout_s):
                return await self._free_or_new()
        except TimeoutError:
            raise timed_out(timeout_s) from None

    def _idle_connection(self) -> _Connection | None:
        idle = self._idle
        while idle:
            connection = idle.pop()
            if connection.closed:
                continue
            if self.loop.time() >= connection.expires_at:  # its timer has not run yet
                connection.abort()
                continue
            return connection
        return None

    async def _free_or_new(self) -> _Connection:
        while True:
            connection = self._idle_connection()
            if connection is not None:
                return connection
            if self._connecting + len(self._connections) < self._limit:
                return await self._connect()
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    async def _connect(self) -> _Connection:
        origin = self.origin
        self._connecting += 1
        try:
            _, connection = await self.loop.create_connection(
                lambda: _Connection(self),
                origin.host,
                origin.port,
                ssl=self._ssl,
                server_hostname=origin.host if self._ssl is not None else None,
            )
        except ssl.SSLError as exc:
            raise tls_failure(exc) from None
        except OSError as exc:
            raise connect_failed(exc, origin.host, origin.port) from None
        finally:
            self._connecting -= 1
            self._wake_one()
        return connection

    def release(self, connection: _Connection) -> None:
        if self.closed:
            connection.abort()
            return
        keepalive_s = self._keepalive_s
        server_s = connection.server_keepalive_s
        if server_s is not None and server_s < keepalive_s:
            keepalive_s = server_s
        connection.expires_at = expires_at = self.loop.time() + keepalive_s
        self._idle.append(connection)
        if self._sweep is None or expires_at < self._sweep.when():
            self._schedule_sweep(expires_at)
        self._wake_one()

    def _schedule_sweep(self, when: float) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep = self.loop.call_at(when, self._close_expired)

    def _close_expired(self) -> None:
        """Close the idle connections whose time is up; set the timer for the next one."""
        self._sweep = None
        now = self.loop.time()
        kept: list[_Connection] = []
        expired: list[_Connection] = []
        for connection in self._idle:
            if connection.closed:
                continue
            (expired if connection.expires_at <= now else kept).append(connection)
        self._idle = kept
        for connection in expired:
            connection.abort()
        if kept and not self.closed:
            self._schedule_sweep(min(c.expires_at for c in kept))

    def adopt(self, connection: _Connection) -> None:
        self._connections.add(connection)

    def forget(self, connection: _Connection) -> None:
        """A connection has closed: it no longer counts, and a waiting request may open one."""
        self._connections.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        self.closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for connection in list(self._connections):
            connection.abort()
        self._idle.clear()


async def _exchange(
    pool: OriginPool,
    head: bytes,
    body: bytes,
    *,
    timeout_s: float,
    streaming: bool,
    limit_bytes: int | None,
) -> _Connection:
    """Send the request; return once its head (a stream) or its whole answer has arrived.

    A whole answer must arrive within ``timeout_s`` of the start, connecting included; a
    stream's connection and then its head have ``timeout_s`` each."""
    started = pool.loop.time()
    connection = await pool.acquire(timeout_s)
    deadline = (pool.loop.time() if streaming else started) + timeout_s
    timer = pool.loop.call_at(deadline, connection.time_out, timeout_s)
    try:
        connection.send(head, body, streaming=streaming, limit_bytes=limit_bytes)
        while connection.error is None and not (
            connection.complete or (streaming and connection.head_done)
        ):
            await connection.wait()
    except BaseException:
        connection.abort()
        raise
    finally:
        timer.cancel()
    if connection.error is not None:
        connection.abort()
        raise connection.error
    return connection


async def fetch(
    pool: OriginPool,
    head: bytes,
    body: bytes,
    *,
    timeout_s: float,
    limit_bytes: int,
) -> Response:
    """POST and read the whole answer within ``timeout_s`` (connecting included), refusing one
    larger than ``limit_bytes``: by its ``Content-Length``, as it arrives, or once decoded."""
    connection = await _exchange(
        pool, head, body, timeout_s=timeout_s, streaming=False, limit_bytes=limit_bytes
    )
    headers = Headers(connection.raw_headers)
    data = b"".join(connection.take_chunks())
    status = connection.status
    connection.finish()
    decoder = Decoder.of(connection.encoding, limit_bytes)
    if decoder is not None:
        data = decoder.decode(data) + decoder.flush()
    return Response(status, headers, data)


class Stream:
    """An answer being read: ``status`` and ``headers`` now, the body as it arrives.

    ``timeout_s`` bounds each wait for more of it; ``expansion`` how far a compressed body may
    grow when decoded. The connection goes back to the pool when the body was read to its end,
    and is closed by ``aclose`` otherwise.
    """

    def __init__(
        self, connection: _Connection, timeout_s: float, expansion: ExpansionLimit
    ) -> None:
        self._connection: _Connection | None = connection
        self._timeout_s = timeout_s
        self._expansion = expansion
        self.status = connection.status
        self.headers = Headers(connection.raw_headers)
        self._decoder = Decoder.of(connection.encoding, None)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        decoder = self._decoder
        while (connection := self._connection) is not None:
            if connection.chunks:
                for chunk in connection.take_chunks():
                    if decoder is None:
                        yield chunk
                        continue
                    for data in decoder.pieces(chunk, self._expansion):
                        yield data
                continue
            if connection.error is not None:
                error = connection.error
                self.aclose()
                raise error
            if connection.complete:
                self._connection = None
                connection.finish()
                if decoder is not None and (rest := decoder.flush()):
                    yield rest
                return
            timer = connection.loop.call_later(
                self._timeout_s, connection.time_out, self._timeout_s
            )
            try:
                await connection.wait()
            except BaseException:
                self.aclose()
                raise
            finally:
                timer.cancel()

    def aclose(self) -> None:
        """Stop reading: an answer not read to its end closes its connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            if connection.complete and connection.error is None and not connection.chunks:
                connection.finish()
            else:
                connection.abort()


async def open_stream(
    pool: OriginPool,
    head: bytes,
    body: bytes,
    *,
    timeout_s: float,
    expansion: ExpansionLimit,
) -> Stream:
    """POST and return once the answer's head has arrived (each wait bounded by ``timeout_s``)."""
    connection = await _exchange(
        pool, head, body, timeout_s=timeout_s, streaming=True, limit_bytes=None
    )
    return Stream(connection, timeout_s, expansion)


__all__ = [
    "CONNECTIONS_PER_ORIGIN",
    "KEEPALIVE_S",
    "Origin",
    "OriginPool",
    "RequestTarget",
    "Response",
    "Stream",
    "fetch",
    "open_stream",
    "request_head",
]

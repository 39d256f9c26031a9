"""llmrelay's own HTTP/1.1 connections (routes without a proxy), against a scripted server.

Each test's server is a real TCP listener on a loopback port that reads the request and then
writes exactly the bytes a test gives it: kept-alive and closed connections, every way a body
can be framed, compressed answers, informational answers, servers that stall, cut or talk
nonsense. The client is ``OutboundHttp``, as connector types use it.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from llmrelay.errors import TransportError
from llmrelay.settings import ActionsSettings
from llmrelay.transport import HttpClientPool, NetworkPolicy, OutboundHttp
from llmrelay.transport.connections import (
    CONNECTIONS_PER_ORIGIN,
    KEEPALIVE_S,
    Origin,
    OriginPool,
    RequestTarget,
    fetch,
    request_head,
)
from tests.transport.servers import established_to

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
SSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


@dataclass
class Exchange:
    """One request as the server read it, and the connection to answer on."""

    head: bytes
    body: bytes
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    connection: int

    def header(self, name: str) -> str | None:
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


@dataclass
class ScriptedServer:
    """Answers each request with the next of ``answers`` (bytes, or a coroutine function)."""

    answers: list[bytes | Callable[[Exchange], object]] = field(default_factory=list)
    requests: list[Exchange] = field(default_factory=list)
    connections: int = 0
    closed_by_client: int = 0
    port: int = 0
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.connections += 1
        number = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                exchange = Exchange(head, b"", reader, writer, number)
                length = int(exchange.header("content-length") or 0)
                exchange.body = await reader.readexactly(length)
                self.requests.append(exchange)
                answer = self.answers.pop(0) if self.answers else OK
                if isinstance(answer, bytes):
                    writer.write(answer)
                    await writer.drain()
                else:
                    result = answer(exchange)
                    if asyncio.iscoroutine(result):
                        await result
                    if writer.is_closing():
                        return
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
        except asyncio.CancelledError:
            pass  # the test is over (ending quietly: a cancelled handler is logged as an error)
        finally:
            writer.close()
            self.handlers.discard(task)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer()
    listener = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    scripted.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield scripted
        for handler in list(scripted.handlers):
            handler.cancel()
        await asyncio.gather(*scripted.handlers, return_exceptions=True)


@pytest.fixture
async def http() -> AsyncIterator[OutboundHttp]:
    pool = HttpClientPool()
    yield OutboundHttp(pool, NetworkPolicy.from_settings(ActionsSettings()))
    await pool.aclose()


async def post(http: OutboundHttp, url: str, **headers: str) -> tuple[int, bytes]:
    response = await http.post(url, headers=headers, body=b'{"a":1}', timeout_s=5)
    return response.status, response.body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def answer(body: bytes, *head: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *head, f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_the_request_carries_llmrelays_framing_and_the_callers_headers(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    await http.post(
        server.url + "?api-version=2024-10-21",
        headers={"api-key": "k", "Content-Type": "application/json"},
        body=b'{"a":1}',
        timeout_s=5,
    )
    seen = server.requests[0]
    assert seen.head.startswith(b"POST /v1/chat/completions?api-version=2024-10-21 HTTP/1.1\r\n")
    assert seen.header("host") == f"127.0.0.1:{server.port}"
    assert seen.header("content-length") == "7"
    assert seen.header("api-key") == "k"
    assert seen.header("content-type") == "application/json"
    assert seen.header("accept-encoding") == "gzip, deflate"
    assert seen.body == b'{"a":1}'


async def test_a_connection_is_kept_alive_and_reused(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    for _ in range(3):
        assert await post(http, server.url) == (200, b'{"ok":true}')
    assert server.connections == 1
    assert [r.connection for r in server.requests] == [1, 1, 1]


async def test_a_connection_the_server_closed_while_idle_is_not_reused(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    async def answer_and_close(exchange: Exchange) -> None:
        exchange.writer.write(OK)
        await exchange.writer.drain()
        exchange.writer.close()

    server.answers = [answer_and_close]
    assert await post(http, server.url) == (200, b'{"ok":true}')
    await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
    assert await post(http, server.url) == (200, b'{"ok":true}')
    assert server.connections == 2


async def test_connection_close_in_the_answer_is_honoured(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    server.answers = [answer(b"{}", "Connection: close")]
    await post(http, server.url)
    await post(http, server.url)
    assert server.connections == 2


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (CHUNKED + b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", b"abcdefg"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b""),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"after"), b"after"),
    ],
    ids=["chunked", "empty", "no-content", "informational-first"],
)
async def test_bodies_framed_every_way_are_read_whole(
    server: ScriptedServer, http: OutboundHttp, raw: bytes, body: bytes
) -> None:
    server.answers = [raw]
    assert (await post(http, server.url))[1] == body
    assert await post(http, server.url) == (200, b'{"ok":true}')  # and the connection goes on
    assert server.connections == 1


async def test_a_body_ended_by_closing_the_connection_is_read_whole(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    async def unframed(exchange: Exchange) -> None:
        exchange.writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ")
        await exchange.writer.drain()
        await asyncio.sleep(0.02)
        exchange.writer.write(b"part two")
        await exchange.writer.drain()
        exchange.writer.close()

    server.answers = [unframed]
    assert await post(http, server.url) == (200, b"part one, part two")


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),
    ],
    ids=["gzip", "deflate", "raw-deflate"],
)
async def test_compressed_answers_are_decoded(
    server: ScriptedServer,
    http: OutboundHttp,
    encoding: str,
    compress: Callable[[bytes], bytes],
) -> None:
    text = b'{"choices":[' + b'{"text":"hello"},' * 100 + b"{}]}"
    server.answers = [answer(compress(text), f"Content-Encoding: {encoding}")]
    response = await http.post(server.url, headers={}, body=b"{}", timeout_s=5)
    assert response.body == text
    assert response.json() is not None


async def test_headers_are_read_case_insensitively(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    server.answers = [
        answer(b"{}", "Retry-After: 7", "X-RateLimit-Remaining: 0", "Via: a", "via: b")
    ]
    response = await http.post(server.url, headers={}, body=b"{}", timeout_s=5)
    assert response.headers.get("retry-after") == "7"
    assert response.headers.get("RETRY-AFTER") == "7"
    assert "x-ratelimit-remaining" in response.headers
    assert response.headers.get("x-missing") is None
    assert [(n, v) for n, v in response.headers.items() if n.lower() == "via"] == [
        ("Via", "a"),
        ("via", "b"),
    ]
    assert len(response.headers) == 5  # with Content-Length


async def test_an_answer_over_the_limit_is_refused_by_its_content_length(
    server: ScriptedServer,
) -> None:
    pool = HttpClientPool()
    http = OutboundHttp(
        pool, NetworkPolicy.from_settings(ActionsSettings(max_response_content_length_bytes=100))
    )
    server.answers = [answer(b"x" * 101), answer(b"y" * 100)]
    with pytest.raises(TransportError, match="maxContentLength size of 100 exceeded"):
        await post(http, server.url)
    assert await post(http, server.url) == (200, b"y" * 100)
    assert server.connections == 2  # the refused answer's connection was dropped
    await pool.aclose()


@pytest.mark.parametrize(
    "raw",
    [
        CHUNKED + chunk(b"z" * 50) * 5 + b"0\r\n\r\n",
        answer(gzip.compress(b"z" * 100_000), "Content-Encoding: gzip"),
    ],
    ids=["chunked", "decompressed"],
)
async def test_an_answer_over_the_limit_is_refused_as_it_arrives(
    server: ScriptedServer, raw: bytes
) -> None:
    """Without a length to check first: counted as read, and after decoding (a gzip bomb)."""
    pool = HttpClientPool()
    http = OutboundHttp(
        pool, NetworkPolicy.from_settings(ActionsSettings(max_response_content_length_bytes=200))
    )
    server.answers = [raw]
    with pytest.raises(TransportError, match="maxContentLength size of 200 exceeded"):
        await post(http, server.url)
    await pool.aclose()


async def test_a_whole_answer_must_arrive_within_the_timeout(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    async def dribble(exchange: Exchange) -> None:
        exchange.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        for _ in range(10):  # each byte in time, the whole too late
            await asyncio.sleep(0.05)
            exchange.writer.write(b"x")
            await exchange.writer.drain()

    server.answers = [dribble]
    with pytest.raises(TransportError, match="timeout of 200ms exceeded") as raised:
        await http.post(server.url, headers={}, body=b"{}", timeout_s=0.2)
    assert raised.value.code == "ECONNABORTED"
    await asyncio.sleep(0.5)
    assert server.closed_by_client == 1  # the server saw the client give up


async def test_a_cancelled_request_closes_its_connection(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    """A caller who leaves (the relay's client disconnected) must not leave the provider
    generating: the connection closes, which is all a provider can notice."""
    started = asyncio.Event()

    async def never(exchange: Exchange) -> None:
        started.set()
        await exchange.reader.read()  # answers nothing; returns once the client has gone

    server.answers = [never]
    request = asyncio.create_task(post(http, server.url))
    await started.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    for _ in range(100):
        if server.closed_by_client:
            break
        await asyncio.sleep(0.01)
    assert server.closed_by_client == 1
    assert await post(http, server.url) == (200, b'{"ok":true}')
    assert server.connections == 2


async def test_a_server_that_closes_mid_answer_is_a_hang_up(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    async def cut(exchange: Exchange) -> None:
        exchange.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await exchange.writer.drain()
        exchange.writer.close()

    server.answers = [cut]
    with pytest.raises(TransportError, match="socket hang up") as raised:
        await post(http, server.url)
    assert raised.value.code == "ECONNRESET"


async def test_an_answer_that_is_not_http_is_a_parse_error(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    server.answers = [b"SSH-2.0-OpenSSH_9.2\r\n\r\n"]
    with pytest.raises(TransportError, match=r"^Parse Error: ") as raised:
        await post(http, server.url)
    assert raised.value.code == "HPE_INVALID_RESPONSE"


async def test_nothing_listening_and_unknown_hosts_in_nodes_words(http: OutboundHttp) -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    with pytest.raises(TransportError, match=rf"^connect ECONNREFUSED 127\.0\.0\.1:{port}$"):
        await post(http, f"http://127.0.0.1:{port}/v1/chat/completions")
    with pytest.raises(TransportError, match=r"^getaddrinfo ENOTFOUND no-such-host\.invalid$"):
        await post(http, "http://no-such-host.invalid/v1/chat/completions")


async def test_a_header_that_would_split_the_request_is_refused_before_sending(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    with pytest.raises(TransportError, match="Invalid character in header content"):
        await http.post(
            server.url, headers={"X-Note": "a\r\nX-Injected: 1"}, body=b"{}", timeout_s=5
        )
    assert server.requests == []


async def test_streams_arrive_as_sent_and_a_finished_one_leaves_its_connection_reusable(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    release = asyncio.Event()

    async def sse(exchange: Exchange) -> None:
        exchange.writer.write(SSE + chunk(b"data: first\n\n"))
        await exchange.writer.drain()
        await release.wait()
        exchange.writer.write(chunk(b"data: second\n\n") + b"0\r\n\r\n")
        await exchange.writer.drain()

    server.answers = [sse]
    stream = await http.open_stream(server.url, headers={}, body=b"{}", timeout_s=5)
    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream"
    chunks = stream.__aiter__()
    assert await anext(chunks) == b"data: first\n\n"  # before the server sent the rest
    release.set()
    assert await anext(chunks) == b"data: second\n\n"
    with pytest.raises(StopAsyncIteration):
        await anext(chunks)
    await stream.aclose()
    assert await post(http, server.url) == (200, b'{"ok":true}')
    assert server.connections == 1


async def test_a_stream_closed_early_closes_its_connection(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    async def endless(exchange: Exchange) -> None:
        exchange.writer.write(SSE)
        while not exchange.writer.is_closing():
            exchange.writer.write(chunk(b"data: more\n"))
            await exchange.writer.drain()
            await asyncio.sleep(0.01)

    server.answers = [endless]
    stream = await http.open_stream(server.url, headers={}, body=b"{}", timeout_s=5)
    async for data in stream:
        assert data.startswith(b"data: more")
        break
    await stream.aclose()
    assert await post(http, server.url) == (200, b'{"ok":true}')
    assert server.connections == 2


async def test_a_stream_that_stalls_times_out_between_chunks(
    server: ScriptedServer, http: OutboundHttp
) -> None:
    async def stall(exchange: Exchange) -> None:
        exchange.writer.write(SSE)
        for _ in range(3):  # three chunks 0.1 s apart: each gap is within the timeout
            exchange.writer.write(chunk(b"data: x\n"))
            await exchange.writer.drain()
            await asyncio.sleep(0.1)
        await asyncio.sleep(5)

    server.answers = [stall]
    stream = await http.open_stream(server.url, headers={}, body=b"{}", timeout_s=0.3)
    received: list[bytes] = []

    async def read_all() -> None:
        async for data in stream:
            received.append(data)

    with pytest.raises(TransportError, match="timeout of 300ms exceeded"):
        await read_all()
    assert b"".join(received) == b"data: x\n" * 3
    await stream.aclose()


def origin_pool(
    server: ScriptedServer, *, limit: int = CONNECTIONS_PER_ORIGIN, keepalive_s: float = KEEPALIVE_S
) -> tuple[OriginPool, bytes]:
    """A pool of connections to ``server``, and the head of a request for it."""
    origin = Origin("http", "127.0.0.1", server.port)
    pool = OriginPool(origin, None, limit=limit, keepalive_s=keepalive_s)
    return pool, request_head(RequestTarget.of(server.url), {}, 2)


async def test_requests_beyond_the_connection_limit_wait_for_a_free_connection(
    server: ScriptedServer,
) -> None:
    pool, head = origin_pool(server, limit=1)
    answers = await asyncio.gather(
        *(fetch(pool, head, b"{}", timeout_s=5, limit_bytes=1000) for _ in range(5))
    )
    assert [a.body for a in answers] == [b'{"ok":true}'] * 5
    assert server.connections == 1
    pool.close()


async def test_an_idle_connection_past_its_keepalive_is_not_reused(
    server: ScriptedServer,
) -> None:
    pool, head = origin_pool(server, keepalive_s=0.05)
    await fetch(pool, head, b"{}", timeout_s=5, limit_bytes=1000)
    await fetch(pool, head, b"{}", timeout_s=5, limit_bytes=1000)
    await asyncio.sleep(0.1)
    await fetch(pool, head, b"{}", timeout_s=5, limit_bytes=1000)
    assert server.connections == 2
    pool.close()


async def test_idle_connections_left_by_a_burst_are_closed_when_their_time_is_up(
    server: ScriptedServer,
) -> None:
    """With nothing more to send, the connections of a burst are closed by their timer (they
    used to stay open until a next request came, however long that took)."""
    pool = HttpClientPool(idle_timeout_s=0.5)
    http = OutboundHttp(pool, NetworkPolicy.from_settings(ActionsSettings()))

    async def slow_ok(exchange: Exchange) -> None:
        await asyncio.sleep(0.1)  # all 50 are in flight at once: 50 connections
        exchange.writer.write(OK)

    server.answers = [slow_ok] * 50
    try:
        answers = await asyncio.gather(*(post(http, server.url) for _ in range(50)))
        assert answers == [(200, b'{"ok":true}')] * 50
        assert server.connections == 50
        assert established_to(server.port) == 50  # kept alive for reuse
        await asyncio.sleep(1.0)
        assert established_to(server.port) == 0
        assert server.closed_by_client == 50  # the server saw each one go
        assert await post(http, server.url) == (200, b'{"ok":true}')  # and new ones work
    finally:
        await pool.aclose()


async def test_a_servers_keep_alive_timeout_shortens_the_idle_time(
    server: ScriptedServer,
) -> None:
    pool = HttpClientPool(idle_timeout_s=30)
    http = OutboundHttp(pool, NetworkPolicy.from_settings(ActionsSettings()))
    server.answers = [answer(b"{}", "Keep-Alive: timeout=1, max=100")]
    try:
        await post(http, server.url)
        await asyncio.sleep(0.5)
        assert established_to(server.port) == 1  # still within the server's second
        await asyncio.sleep(1.0)
        assert established_to(server.port) == 0
        assert server.closed_by_client == 1
    finally:
        await pool.aclose()

"""A gzip event stream is held to ``actions.max_decompression_ratio`` as it is relayed.

The provider is a raw loopback server answering with a gzip-encoded ``text/event-stream``;
llmrelay serves on a real port and the stream is read as a caller reads it. A bomb (1,000x)
is cut soon after ``max_response_content_length_bytes`` with an in-band ``event: error`` and a
failure event; an ordinary compressed stream larger than that arrives whole.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.settings import Settings
from tests.api.conftest import create_connector
from tests.api.test_event_recording import events_written_by_the_server
from tests.components import fresh_postgres_database
from tests.conftest import ADMIN_AUTH, make_settings
from tests.live import serve_in_thread
from tests.transport.servers import squid_proxy
from tests.transport.streaming import HELLO

ONE_MIB = 1024 * 1024
CUT = "decompressed stream exceeds 250 times its compressed size (actions.max_decompression_ratio)"


def _event(content: str) -> bytes:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def _gzip_chunks(events: Iterator[bytes], *, flush_each: bool) -> Iterator[bytes]:
    """The events gzip-encoded as HTTP chunks (one per event when ``flush_each``)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for event in [*events, b"data: [DONE]\n\n"]:
        data = compressor.compress(event)
        if flush_each:
            data += compressor.flush(zlib.Z_SYNC_FLUSH)
        if data:
            yield b"%x\r\n%s\r\n" % (len(data), data)
    rest = compressor.flush()
    yield b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest)


@asynccontextmanager
async def gzip_provider(chunks: list[bytes]) -> AsyncIterator[str]:
    """A provider answering every request with these chunks of a gzip event stream."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the relay cut the stream
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/v1/chat/completions"


async def relay_stream(settings: Settings, provider_url: str) -> tuple[bytes, str]:
    """The stream as the caller received it, and the connector's id."""
    params = {"subAction": "stream", "subActionParams": {"body": HELLO, "stream": True}}
    received = bytearray()
    with serve_in_thread(create_app(settings)) as base_url:
        async with httpx.AsyncClient(
            base_url=base_url, headers={"kbn-xsrf": "1"}, auth=ADMIN_AUTH, timeout=30
        ) as client:
            cid = await create_connector(client, provider_url, provider="Other")
            async with client.stream(
                "POST", f"/api/actions/connector/{cid}/_execute", json={"params": params}
            ) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_raw():
                    received += chunk
    return bytes(received), cid


@asynccontextmanager
async def database_settings(tmp_path: Path, database: str) -> AsyncIterator[Settings]:
    """Settings on SQLite, or on a fresh PostgreSQL database (the failure event is stored)."""
    if database == "sqlite":
        yield make_settings(tmp_path / "data")
        return
    async with fresh_postgres_database() as url:
        yield make_settings(tmp_path / "data", **{"database.url": url})


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_a_gzip_bomb_stream_is_cut_with_an_error_event_and_recorded(
    tmp_path: Path, database: str
) -> None:
    bomb = list(_gzip_chunks((_event("a" * 65536) for _ in range(320)), flush_each=False))
    assert sum(map(len, bomb)) < 64 * 1024  # 20 MiB of events in under 64 KiB on the wire
    async with database_settings(tmp_path, database) as settings, gzip_provider(bomb) as url:
        received, cid = await relay_stream(settings, url)
        [event] = await events_written_by_the_server(settings, cid, count=1)
    assert len(received) < 2 * ONE_MIB  # (the whole 20 MiB was relayed before)
    assert b"data: [DONE]" not in received
    *_, last = received.decode().strip().split("\n\n")
    assert last.startswith("event: error\ndata: ")
    assert CUT in json.loads(last.split("data: ", 1)[1])["message"]
    assert event.outcome == "failure"
    assert event.error_message is not None
    assert CUT in event.error_message


async def test_an_ordinary_gzip_stream_past_the_size_limit_arrives_whole(
    tmp_path: Path,
) -> None:
    words = [f" word{n % 97}" for n in range(30_000)]  # 3.6 MB of events, 20x smaller on the wire
    chunks = list(_gzip_chunks((_event(w) for w in words), flush_each=True))
    settings = make_settings(tmp_path / "data")
    async with gzip_provider(chunks) as url:
        received, cid = await relay_stream(settings, url)
    assert len(received) > 3 * ONE_MIB
    assert received.endswith(b"data: [DONE]\n\n")
    [event] = await events_written_by_the_server(settings, cid, count=1)
    assert event.outcome == "success"


async def test_a_gzip_bomb_through_a_proxy_is_cut_too(tmp_path: Path) -> None:
    """aiohttp decodes the proxied stream; the same ratio holds it."""
    bomb = list(_gzip_chunks((_event("a" * 65536) for _ in range(320)), flush_each=False))
    with squid_proxy() as squid:
        settings = make_settings(tmp_path / "data", **{"actions.proxy_url": squid.url})
        async with gzip_provider(bomb) as url:
            received, cid = await relay_stream(settings, url)
    assert len(received) < 2 * ONE_MIB
    assert CUT in received.decode().strip().split("\n\n")[-1]
    [event] = await events_written_by_the_server(settings, cid, count=1)
    assert event.outcome == "failure"
    assert event.error_message is not None
    assert CUT in event.error_message

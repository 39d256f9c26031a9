"""Reading SSE events from arbitrary chunking, as they come off a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

from hypothesis import given
from hypothesis import strategies as st

from llmrelay.transport import SSEEvent, iter_sse_events

STREAM = (
    b'data: {"a":1}\n\n'
    b": keep-alive comment\n\n"
    b"event: error\r\ndata: line one\r\ndata: line two\r\n\r\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent("message", '{"a":1}'),
    SSEEvent("error", "line one\nline two"),
    SSEEvent("message", "[DONE]"),
]


async def _chunks(data: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    start = 0
    for cut in sorted(set(cuts)):
        yield data[start:cut]
        start = cut
    yield data[start:]


async def _collect(chunks: AsyncIterator[bytes]) -> list[SSEEvent]:
    return [event async for event in iter_sse_events(chunks)]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
async def test_events_survive_any_chunking(cuts: list[int]) -> None:
    assert await _collect(_chunks(STREAM, cuts)) == EXPECTED


async def test_event_cut_off_before_its_blank_line_is_discarded() -> None:
    assert await _collect(_chunks(b"data: whole\n\ndata: tail\n", [])) == [
        SSEEvent("message", "whole")
    ]

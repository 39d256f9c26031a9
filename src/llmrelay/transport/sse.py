"""Server-Sent Events framing, for readers of a relayed stream (the CLI, usage counting).

Relaying never re-frames: bytes go to the caller unchanged. This only *reads* a copy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SSEEvent:
    event: str
    data: str


@dataclass
class SSEDecoder:
    """Incremental decoder per the WHATWG rules (LF or CRLF line ends).

    Feed it chunks cut anywhere; a blank line ends an event. An event cut off before its blank
    line is never returned, as the standard says.
    """

    _buffer: str = ""
    _event: str = "message"
    _data: list[str] = field(default_factory=list)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk.decode("utf-8", errors="replace")
        *lines, self._buffer = self._buffer.split("\n")
        events = []
        for raw_line in lines:
            line = raw_line.removesuffix("\r")
            if not line:
                if self._data:
                    events.append(SSEEvent(self._event, "\n".join(self._data)))
                self._event, self._data = "message", []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
        return events


async def iter_sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[SSEEvent]:
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event

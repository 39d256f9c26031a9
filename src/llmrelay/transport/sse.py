"""Server-Sent Events framing, for readers of a relayed stream (the CLI, usage counting).

Relaying never re-frames: bytes go to the caller unchanged. This only *reads* a copy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    event: str
    data: str


async def iter_sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[SSEEvent]:
    """Events per the WHATWG rules (LF or CRLF line ends): a blank line ends an event."""
    buffer = ""
    event, data = "message", list[str]()
    async for chunk in chunks:
        buffer += chunk.decode("utf-8", errors="replace")
        *lines, buffer = buffer.split("\n")
        for raw_line in lines:
            line = raw_line.removesuffix("\r")
            if not line:
                if data:
                    yield SSEEvent(event, "\n".join(data))
                event, data = "message", []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
    # An event cut off before its blank line is discarded, as the SSE standard says.

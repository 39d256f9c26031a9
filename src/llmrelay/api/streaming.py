"""Relay a provider's byte stream to the HTTP caller, event by event.

Written as a plain ASGI response rather than Starlette's ``StreamingResponse`` so that a
client disconnect is noticed while we are still waiting on the provider (not only at the next
write), and the upstream request is then cancelled and its connection released.
"""

from __future__ import annotations

import json
import logging

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from llmrelay.connectors import ByteStream
from llmrelay.errors import LlmrelayError

logger = logging.getLogger("llmrelay.api")


class ByteStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(self, stream: ByteStream) -> None:
        # Response.__init__ would render a body; this response has none until it runs.
        self.stream = stream
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def watch_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(watch_disconnect)
                await self._pump(send)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.stream.aclose()

    async def _pump(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", f"{self.stream.media_type}; charset=utf-8".encode()),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        try:
            async for chunk in self.stream.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except LlmrelayError as exc:
            # The head is already sent: report the failure as a last SSE event, not a 500.
            logger.warning("stream from provider broke off: %s", exc)
            data = self.error_event(exc)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def error_event(self, exc: LlmrelayError) -> bytes:
        """The SSE event that reports a stream broken off after the head was sent."""
        event = {"status": "error", "message": str(exc)}
        return f"event: error\ndata: {json.dumps(event)}\n\n".encode()

"""Plain ASGI middleware guarding every API request before a route runs.

Plain ASGI (not ``BaseHTTPMiddleware``) so streamed responses pass through untouched.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmrelay.errors import PayloadTooLargeError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
XSRF_HEADERS = (b"kbn-xsrf", b"kbn-version")


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps(
        {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message},
        separators=(",", ":"),
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class KibanaRequestGuard:
    """Refuse mutating API requests without ``kbn-xsrf`` (as Kibana does) and oversized bodies.

    The xsrf header cannot be set by a cross-site form or a simple cross-origin fetch, so its
    presence shows the request came from a client that meant it.
    """

    def __init__(self, app: ASGIApp, *, max_payload_bytes: int) -> None:
        self.app = app
        self.max_payload_bytes = max_payload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_xsrf = False
        declared: bytes | None = None
        for name, value in scope["headers"]:
            if name in XSRF_HEADERS:
                has_xsrf = True
            elif name == b"content-length":
                declared = value
        mutating = scope["method"] not in SAFE_METHODS and scope["path"].startswith("/api/")
        if mutating and not has_xsrf:
            await _send_error(send, 400, "Request must contain a kbn-xsrf header.")
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_payload_bytes:
            await _send_error(send, 413, self._too_large())
            return
        if declared is not None or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)  # a declared length is enforced by the server
            return
        await self.app(scope, self._bounded(receive), send)

    def _too_large(self) -> str:
        return f"Payload content length greater than maximum allowed: {self.max_payload_bytes}"

    def _bounded(self, receive: Receive) -> Receive:
        """Count a chunked body as it arrives: a missing Content-Length must not lift the limit."""
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_payload_bytes:
                    raise PayloadTooLargeError(self._too_large())
            return message

        return bounded_receive

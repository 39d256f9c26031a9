"""Kibana's checks of a request before its body is read, the error body guards answer with,
and the page security headers (plain ASGI middleware).

Plain ASGI (not ``BaseHTTPMiddleware``) so streamed responses pass through untouched.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmrelay.errors import PayloadTooLargeError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
XSRF_HEADERS = (b"kbn-xsrf", b"kbn-version")


async def send_error(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
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
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def payload_too_large(max_payload_bytes: int) -> str:
    return f"Payload content length greater than maximum allowed: {max_payload_bytes}"


def kibana_refusal(scope: Scope, max_payload_bytes: int) -> tuple[int, str] | None:
    """Why Kibana would refuse this request before reading it, or None: a mutating API request
    without ``kbn-xsrf`` (400), or a declared body over ``max_payload_bytes`` (413)."""
    has_xsrf = False
    declared: bytes | None = None
    for name, value in scope["headers"]:
        if name in XSRF_HEADERS:
            has_xsrf = True
        elif name == b"content-length":
            declared = value
    mutating = scope["method"] not in SAFE_METHODS and scope["path"].startswith(
        ("/api/", "/internal/")
    )
    if mutating and not has_xsrf:
        return 400, "Request must contain a kbn-xsrf header."
    if declared is not None and declared.isdigit() and int(declared) > max_payload_bytes:
        return 413, payload_too_large(max_payload_bytes)
    return None


def bounded_receive(scope: Scope, receive: Receive, max_payload_bytes: int) -> Receive:
    """``receive``, counting a body sent without ``Content-Length`` (chunked) as it arrives: a
    missing length must not lift the limit. A declared length is enforced by the server."""
    if scope["method"] in SAFE_METHODS or any(
        name == b"content-length" for name, _ in scope["headers"]
    ):
        return receive
    seen = 0

    async def counting_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_payload_bytes:
                raise PayloadTooLargeError(payload_too_large(max_payload_bytes))
        return message

    return counting_receive


CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    b"form-action 'self'; "
    b"frame-ancestors 'none'"
)
PAGE_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


API_PREFIXES = ("/api/", "/internal/", "/v1/", "/openai/")
"""The JSON APIs: Kibana's, llmrelay's internal one and the OpenAI-compatible one."""


class PageSecurityHeaders:
    """CSP (no inline script, no third-party origin) and anti-framing headers on every response
    outside the JSON APIs (``API_PREFIXES``); the APIs are left alone to keep the relayed paths
    lean.

    Inline *styles* are allowed: plotly.js adds its own ``<style>`` elements to draw charts.
    ``Referrer-Policy: same-origin``, not ``no-referrer``: under ``no-referrer`` browsers send
    ``Origin: null`` on form posts, and the login form's same-origin check refused every real
    browser (found by the Chromium test)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}  # a page's own choice wins
                headers += [(name, value) for name, value in PAGE_HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

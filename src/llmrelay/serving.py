"""How ``llmrelay serve`` runs uvicorn: its HTTP protocol, with a cap on request heads.

uvicorn's httptools protocol has no limit of its own on the request line and headers, and
httptools joins a header's pieces in memory until its line ends: a 200 MB header was read whole
(the server's RSS rose by 250 MB) before the request was even authenticated. The subclass here
counts a request's head while it arrives and answers ``431 Request Header Fields Too Large`` the
moment it passes ``server.max_header_bytes``, then closes the connection, as Node (Kibana's
server) does. A head is never held past the cap and one read of the socket (at most 256 KiB).
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

logger = logging.getLogger("llmrelay.server")

_LINE_OVERHEAD_BYTES = 4
"""``: `` and CRLF around every header line: counted so that the cap means bytes on the wire."""


class _HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing; the answer is a 431, not a 400."""


class HeaderBoundedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head longer than ``max_header_bytes``.

    Two counts, both against the same cap: the bytes read while a head is incomplete (bounds
    what httptools buffers for a header still arriving) and the request line and header lines
    the parser reported (exact for a head that arrived in one read with its body).
    """

    max_header_bytes: int = 32 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_read_bytes = 0
        self._head_bytes = 0
        self._in_body = False
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._in_body:
            self._head_read_bytes += len(data)
        super().data_received(data)
        if not (self._in_body or self._refused) and self._head_read_bytes > self.max_header_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + _LINE_OVERHEAD_BYTES)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_body = True
        self._head_read_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_header_bytes:
            raise _HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        """uvicorn answers 400 when a parser callback raised; ours raised for a 431."""
        if self._head_bytes > self.max_header_bytes:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        client = f"{self.client[0]}:{self.client[1]} " if self.client else ""
        logger.warning(
            "%srefused a request whose line and headers exceed %d bytes (server.max_header_bytes)",
            client,
            self.max_header_bytes,
        )
        message = (
            f"Request Header Fields Too Large: the request line and headers exceed "
            f"{self.max_header_bytes} bytes"
        ).encode()
        content = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(message)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                message,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


def http_protocol(max_header_bytes: int) -> type[HeaderBoundedProtocol]:
    """The protocol class to give uvicorn (``http=``) for a cap of ``max_header_bytes``."""
    return type(
        "HeaderBoundedProtocol", (HeaderBoundedProtocol,), {"max_header_bytes": max_header_bytes}
    )


__all__ = ["HeaderBoundedProtocol", "http_protocol"]

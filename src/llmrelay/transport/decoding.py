"""Undoing ``Content-Encoding: gzip`` and ``deflate`` without letting an answer balloon.

A whole answer is refused once decoded past ``maxResponseContentLength``. A stream has no size
limit (a long answer is not cut), so it is held to a ratio instead: past that same size, it may
decode to at most ``actions.max_decompression_ratio`` times the compressed bytes it came from.
Before this, a gzip stream of 200 KB on the wire was relayed as 210 MB, and one socket read of
it was decoded at once (1 GB peak). Streams are now decoded in pieces of at most
``PIECE_BYTES``, each checked before the next is made.

Real event streams compress 20x (flushed after every event) to 140x (buffered) with gzip; a
decompression bomb reaches 1,000x. Hence the default of 250.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from llmrelay.errors import TransportError
from llmrelay.transport.failures import expanded_too_far, too_large

PIECE_BYTES = 64 * 1024
"""The most a stream's decoder makes from its input before the ratio is checked again."""


@dataclass(frozen=True, slots=True)
class ExpansionLimit:
    """A decoded stream may pass ``floor_bytes`` only within ``ratio`` times its wire bytes."""

    ratio: float
    floor_bytes: int

    def check(self, decoded_bytes: int, wire_bytes: int) -> None:
        if decoded_bytes > self.floor_bytes and decoded_bytes > self.ratio * wire_bytes:
            raise expanded_too_far(self.ratio)


class Decoder:
    """Undoes gzip or deflate, refusing output past ``limit_bytes`` (a whole answer) or growth
    past an ``ExpansionLimit`` (a stream)."""

    def __init__(self, deflate: bool, limit_bytes: int | None) -> None:
        self._deflate = deflate
        self._object = zlib.decompressobj(15 if self._deflate else 16 + zlib.MAX_WBITS)
        self._first = True
        self._limit = limit_bytes
        self._seen = 0
        self._wire = 0

    @staticmethod
    def of(encoding: bytes, limit_bytes: int | None) -> Decoder | None:
        """A decoder for a ``Content-Encoding`` (lower case), or None when there is none to undo."""
        if encoding in (b"gzip", b"x-gzip", b"deflate"):
            return Decoder(encoding == b"deflate", limit_bytes)
        return None

    def _decompress(self, data: bytes, max_bytes: int) -> bytes:
        try:
            if self._first and self._deflate and data:
                self._first = False
                # raw deflate without the zlib wrapper, as some servers send it
                if (data[0] & 0x0F) != 8:
                    self._object = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._object.decompress(data, max_bytes)
        except zlib.error as exc:
            raise TransportError(
                f"incorrect content encoding: {exc}", code="Z_DATA_ERROR"
            ) from None
        self._seen += len(out)
        return out

    def decode(self, data: bytes) -> bytes:
        """All of ``data`` decoded (a whole answer, bounded by ``limit_bytes``)."""
        cap = 0 if self._limit is None else self._limit + 1 - self._seen
        out = self._decompress(data, cap)
        if self._limit is not None and self._seen > self._limit:
            raise too_large(self._limit)
        return out

    def pieces(self, data: bytes, expansion: ExpansionLimit) -> Iterator[bytes]:
        """``data`` (the next bytes of a stream) decoded piece by piece, each checked."""
        self._wire += len(data)
        while True:
            out = self._decompress(data, PIECE_BYTES)
            data = self._object.unconsumed_tail
            expansion.check(self._seen, self._wire - len(data))
            if out:
                yield out
            if not data:
                return

    def flush(self) -> bytes:
        out = self._object.flush()
        self._seen += len(out)
        if self._limit is not None and self._seen > self._limit:
            raise too_large(self._limit)
        return out


__all__ = ["PIECE_BYTES", "Decoder", "ExpansionLimit"]

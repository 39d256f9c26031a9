"""JSON text on the request path: orjson's speed with the standard library's exact results.

An ``_execute`` parses JSON twice and writes it twice (the caller's body, the provider's body,
the provider's answer, the response); with the standard library that cost about 28 us of the
event loop's time per request, with orjson about 3 us (``bench/overhead.py``).

``loads`` returns exactly what ``json.loads`` returns: where orjson would differ (integers
beyond 64 bits, which it turns into floats; ``NaN``, ``Infinity``, lone surrogates and numbers
out of float range, which it refuses) the standard library parses instead. ``dumps`` writes
what ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` writes, as UTF-8, except
for two things: a float Python writes with an exponent below 1e16 (``1e-05``) is written as
orjson writes it (``0.00001``, the same number, and what JavaScript writes), and a NaN or
infinite float becomes ``null`` (JavaScript's ``JSON.stringify`` does the same).
"""

from __future__ import annotations

import json

import orjson

_DIGITS_AS_NINES = bytes.maketrans(b"0123456789", b"9" * 10)
_LONG_INTEGER = b"9" * 19
"""19 digits in a row may be an integer beyond orjson's 64 bits (or digits in a string). Found by
turning every digit into a 9 and searching for 19 nines: a tenth of a regular expression's time
(0.25 against 2.5 us for an answer of 300 bytes)."""


def loads(data: bytes | str) -> object:
    """``json.loads``, faster; raises ``ValueError`` for text that is not JSON."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _LONG_INTEGER not in raw.translate(_DIGITS_AS_NINES):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON (see the module's docstring for the two ways it can differ)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits, non-string keys, types orjson does not know
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

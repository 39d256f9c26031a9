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
infinite float becomes ``null`` (JavaScript's ``JSON.stringify`` does the same). A string with a
lone surrogate (``"\\ud800"``, which UTF-8 cannot encode) is written as its ``\\ud800`` escape,
as JavaScript's ``JSON.stringify`` writes it, unless ``dumps`` is asked to refuse it.

Nesting is limited to ``MAX_DEPTH`` levels: orjson refuses deeper text itself, and the text the
standard library parses instead is measured first, so a body nested 100,000 deep is refused in
milliseconds (7 ms on the bench machine) rather than ending in a ``RecursionError``.
"""

from __future__ import annotations

import json
from array import array
from itertools import accumulate

import orjson

MAX_DEPTH = 1024
"""Arrays and objects nested deeper than this are refused: orjson's own limit, kept for the text
the standard library parses."""

_DIGITS_AS_NINES = bytes.maketrans(b"0123456789", b"9" * 10)
_LONG_INTEGER = b"9" * 19
"""19 digits in a row may be an integer beyond orjson's 64 bits (or digits in a string). Found by
turning every digit into a 9 and searching for 19 nines: a tenth of a regular expression's time
(0.25 against 2.5 us for an answer of 300 bytes)."""


_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


class RefusedJsonError(ValueError):
    """Text some parser would take but llmrelay does not: too deep, or (``strict``) ``NaN``."""


class TooDeepError(RefusedJsonError):
    """JSON nested deeper than ``MAX_DEPTH``."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


class LoneSurrogateError(ValueError):
    """Text holding a lone surrogate (``\\ud800``): not Unicode, so not UTF-8 either."""

    def __init__(self) -> None:
        super().__init__(
            "text contains a lone surrogate (an escape such as \\ud800 with no pair), "
            "which is not valid Unicode"
        )


def _nesting(raw: bytes) -> int:
    """How deep ``raw`` nests, at C speed: escapes and strings cut out, brackets become +1 and
    -1, and the running sum's peak is the depth (12 ms for 100,000 brackets). Only for the
    text orjson refused, which already measures its own."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    brackets = outside_strings.translate(None, _NOT_BRACKETS).translate(_OPEN_CLOSE)
    return max(accumulate(array("b", brackets)), default=0)


def _refuse_constant(name: str) -> object:
    raise RefusedJsonError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise RefusedJsonError(f"{text} is beyond the range of a number")
    return value


def loads(data: bytes | str, *, strict: bool = False) -> object:
    """``json.loads``, faster; raises ``ValueError`` for text that is not JSON, and
    ``TooDeepError`` (a ``RefusedJsonError``, a ``ValueError``) past ``MAX_DEPTH``. ``strict``
    also refuses ``NaN``, ``Infinity`` and numbers beyond float range, which are not JSON
    (JavaScript's ``JSON.parse`` refuses the first two and reads the last as ``Infinity``)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _LONG_INTEGER not in raw.translate(_DIGITS_AS_NINES):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    if len(raw) > MAX_DEPTH and _nesting(raw) > MAX_DEPTH:
        raise TooDeepError
    try:
        if strict:
            return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
        return json.loads(data)
    except RecursionError:  # the stack in use left less than MAX_DEPTH levels
        raise TooDeepError from None


def dumps(value: object, *, refuse_lone_surrogates: bool = False) -> bytes:
    """Compact UTF-8 JSON (see the module's docstring for the ways it can differ).

    A lone surrogate is written as its escape, or with ``refuse_lone_surrogates`` (text bound
    for a provider, which refuses it) raises ``LoneSurrogateError``. Any depth ``loads`` reads
    is written.
    """
    try:
        return orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits, non-string keys, types orjson does not know
        pass
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:  # nested past what the stack holds (about 950 levels)
        text = _deep_text(value)
    try:
        return text.encode()
    except UnicodeEncodeError:
        if refuse_lone_surrogates:
            raise LoneSurrogateError from None
        return text.encode("utf-8", "backslashreplace")


class _Punctuation(str):
    """Text ``_deep_text`` writes as it is (a bracket, a comma, a key)."""


def _deep_text(value: object) -> str:
    """``json.dumps`` without recursion, for a value orjson read (up to ``MAX_DEPTH`` levels)
    but that is too deep for orjson's writer (254 levels) and the standard library's stack."""
    out: list[str] = []
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _Punctuation):
            out.append(item)
        elif isinstance(item, dict):
            pending.append(_Punctuation("}"))
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, child = entries[index]
                name = key if isinstance(key, str) else json.dumps(key)
                pending.append(child)
                comma = "," if index else ""
                pending.append(_Punctuation(comma + json.dumps(name, ensure_ascii=False) + ":"))
            out.append("{")
        elif isinstance(item, list | tuple):
            pending.append(_Punctuation("]"))
            for index in range(len(item) - 1, -1, -1):
                pending.append(item[index])
                if index:
                    pending.append(_Punctuation(","))
            out.append("[")
        else:
            out.append(json.dumps(item, ensure_ascii=False))
    return "".join(out)

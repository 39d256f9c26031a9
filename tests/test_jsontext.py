"""JSON on the request path: orjson's speed, the standard library's results."""

from __future__ import annotations

import json

import pytest

from llmrelay import jsontext

SAME_AS_THE_STANDARD_LIBRARY = [
    '{"model":"gpt-4.1","messages":[{"role":"user","content":"Hello é ✓"}]}',
    "18446744073709551616",  # beyond 64 bits: orjson alone would give a float
    "-9223372036854775809",
    '{"id":"1234567890123456789012"}',
    "[NaN, Infinity, -Infinity]",  # orjson alone refuses these
    "1e400",
    '"\\ud800"',  # a lone surrogate
    '{"a":1,"a":2}',
    " [1.5, -0, true, null] ",
]


@pytest.mark.parametrize("text", SAME_AS_THE_STANDARD_LIBRARY)
def test_loads_gives_what_json_loads_gives(text: str) -> None:
    expected = json.loads(text)
    for given in (text, text.encode()):
        parsed = jsontext.loads(given)
        assert repr(parsed) == repr(expected)
        assert type(parsed) is type(expected)


@pytest.mark.parametrize("text", ["", "{", "{'a': 1}", "[1,]", "nope"])
def test_loads_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        jsontext.loads(text)


@pytest.mark.parametrize(
    "value",
    [
        {"status": "ok", "data": {"text": "é ✓ \u2028 \x1f", "n": [1, 2.5, True, None]}},
        [2**70, -(2**70)],  # beyond 64 bits
        {1: "non-string key", None: "null key"},
        [0.1, 100.0, 1e16, 1e300],
    ],
)
def test_dumps_writes_what_json_dumps_writes(value: object) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert jsontext.dumps(value) == expected

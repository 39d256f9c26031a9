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


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # orjson refuses it; the standard library would recurse
        '[NaN,"\\ud800",' * 2_000 + "1" + "]" * 2_000,  # text only the standard library reads
        "[" * 1_025 + "]" * 1_025,
    ],
    ids=["100,000 deep", "fallback text 2,000 deep", "1,025 deep"],
)
def test_loads_refuses_nesting_past_the_limit_without_recursing(text: str) -> None:
    with pytest.raises(jsontext.TooDeepError, match="nested deeper than 1024 levels"):
        jsontext.loads(text)


def test_nesting_up_to_the_limit_is_read_and_written_back() -> None:
    text = '{"a":' + "[" * 1_023 + '"\\"]\\\\"' + "]" * 1_023 + "}"
    value = jsontext.loads(text)
    assert jsontext.dumps(value) == text.encode()  # past the writers' 254 and ~950 levels


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"n": NaN}', "NaN is not a JSON value"),
        ("[Infinity]", "Infinity is not a JSON value"),
        ("[-Infinity]", "-Infinity is not a JSON value"),
        ('{"n": 1e400}', "1e400 is beyond the range of a number"),
    ],
)
def test_strict_loads_refuses_what_javascript_cannot_read(text: str, reason: str) -> None:
    with pytest.raises(jsontext.RefusedJsonError, match=reason):
        jsontext.loads(text, strict=True)
    jsontext.loads(text)  # the default keeps the standard library's reading


def test_dumps_escapes_a_lone_surrogate_or_refuses_it_when_asked() -> None:
    value = {"text": "a\ud800b é"}
    assert jsontext.dumps(value) == b'{"text":"a\\ud800b \xc3\xa9"}'
    assert jsontext.loads(jsontext.dumps(value)) == value
    with pytest.raises(jsontext.LoneSurrogateError, match="lone surrogate"):
        jsontext.dumps(value, refuse_lone_surrogates=True)

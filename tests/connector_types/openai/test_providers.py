"""Per-provider body shaping: what each provider is sent for the same caller body."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmrelay.connector_types.openai.providers import (
    PROVIDERS,
    shape_body,
    shape_request,
    without_usage_request,
)

OFFICIAL = "https://api.openai.com/v1/chat/completions"
PROXY = "https://llm-gateway.example.com/v1/chat/completions"
AZURE = "https://r.openai.azure.com/openai/deployments/d1/chat/completions?api-version=2024-02-01"
AZURE_OTHER_PATH = "https://r.openai.azure.com/custom/route"
BODY = '{"messages":[{"role":"user","content":"hi"}]}'


@pytest.mark.parametrize(
    ("provider", "url", "stream", "expected"),
    [
        (
            "OpenAI",
            OFFICIAL,
            False,
            '{"messages":[{"role":"user","content":"hi"}],"stream":false,"model":"gpt-4.1"}',
        ),
        (
            "OpenAI",
            OFFICIAL,
            True,
            '{"messages":[{"role":"user","content":"hi"}],"stream":true,'
            '"stream_options":{"include_usage":true},"model":"gpt-4.1"}',
        ),
        ("OpenAI", PROXY, True, '{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4.1"}'),
        (
            "Azure OpenAI",
            AZURE,
            False,
            '{"messages":[{"role":"user","content":"hi"}],"stream":false}',
        ),
        (
            "Azure OpenAI",
            AZURE,
            True,
            '{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}',
        ),
        ("Azure OpenAI", AZURE_OTHER_PATH, True, '{"messages":[{"role":"user","content":"hi"}]}'),
        (
            "Other",
            PROXY,
            True,
            '{"messages":[{"role":"user","content":"hi"}],"stream":true,'
            '"stream_options":{"include_usage":true},"model":"gpt-4.1"}',
        ),
    ],
)
def test_shape_body_per_provider(provider: str, url: str, stream: bool, expected: str) -> None:
    rules = PROVIDERS[provider]  # type: ignore[index]
    model = "gpt-4.1" if rules.injects_default_model else None
    assert shape_body(rules, url=url, body=BODY, stream=stream, default_model=model) == expected


@pytest.mark.parametrize(
    ("body", "sent", "asked"),
    [
        # the caller's own stream flag, on a URL whose flag llmrelay leaves alone
        ('{"stream":true}', '{"stream":true,"stream_options":{"include_usage":true}}', True),
        ('{"stream":false}', '{"stream":false}', False),  # OpenAI refuses options off-stream
        ('{"messages":[]}', '{"messages":[]}', False),  # no stream flag: no stream
        # the caller decided: left alone, whichever way
        (
            '{"stream":true,"stream_options":{"include_usage":false}}',
            '{"stream":true,"stream_options":{"include_usage":false}}',
            False,
        ),
        (
            '{"stream":true,"stream_options":{"include_usage":true}}',
            '{"stream":true,"stream_options":{"include_usage":true}}',
            False,
        ),
        # other options kept, usage added beside them
        (
            '{"stream":true,"stream_options":{"include_obfuscation":false}}',
            '{"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}',
            True,
        ),
    ],
)
def test_usage_is_asked_for_unless_the_caller_chose(body: str, sent: str, asked: bool) -> None:
    shaped = shape_request(
        PROVIDERS["Azure OpenAI"], url=AZURE_OTHER_PATH, body=body, stream=True, default_model=None
    )
    assert (shaped.text, shaped.asked_usage) == (sent, asked)
    if asked:
        assert without_usage_request(shaped.text) == body


def test_a_body_shaped_without_asking_has_no_stream_options() -> None:
    for rules in PROVIDERS.values():
        shaped = shape_request(
            rules, url=AZURE, body=BODY, stream=True, default_model=None, ask_usage=False
        )
        assert "stream_options" not in json.loads(shaped.text)
        assert shaped.asked_usage is False


def test_existing_keys_keep_their_place_and_model_is_kept() -> None:
    body = '{"stream":true,"model":"mine","messages":[]}'
    shaped = shape_body(
        PROVIDERS["OpenAI"], url=OFFICIAL, body=body, stream=False, default_model="d"
    )
    assert shaped == '{"stream":false,"model":"mine","messages":[]}'


def test_openai_drops_tool_choice_without_tools() -> None:
    body = '{"messages":[],"tool_choice":"auto","parallel_tool_calls":true,"function_call":"auto"}'
    shaped = json.loads(
        shape_body(PROVIDERS["OpenAI"], url=PROXY, body=body, stream=False, default_model="m")
    )
    assert shaped == {"messages": [], "model": "m"}


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"', ""])
def test_bodies_that_are_not_json_objects_are_forwarded_unchanged(body: str) -> None:
    for rules in PROVIDERS.values():
        assert shape_body(rules, url=OFFICIAL, body=body, stream=True, default_model="m") == body


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(st.integers(), st.text(max_size=10), st.booleans(), st.none()),
        max_size=6,
    ),
    st.booleans(),
)
def test_shaping_only_adds_provider_keys(payload: dict[str, object], stream: bool) -> None:
    for name, rules in PROVIDERS.items():
        shaped = json.loads(
            shape_body(
                rules, url=OFFICIAL, body=json.dumps(payload), stream=stream, default_model="m"
            )
        )
        added = set(shaped) - set(payload)
        assert added <= {"stream", "stream_options", "model"}, name
        for key, value in payload.items():
            if key not in {
                "stream",
                "stream_options",
                "model",
                "tool_choice",
                "parallel_tool_calls",
                "function_call",
            }:
                assert shaped[key] == value

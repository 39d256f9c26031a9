"""The quick check of a ``run`` answer never accepts what Kibana's response schema refuses."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from llmrelay.connector_types.openai.schemas import RunActionResponse, conforms_to_run_response
from tests.strategies import JSON_VALUES

TEXT_OR_NONE = st.text(max_size=5) | st.none()
MESSAGES = st.fixed_dictionaries(
    {"role": st.text(max_size=5)}, optional={"content": TEXT_OR_NONE, "refusal": JSON_VALUES}
)
CHOICES = st.fixed_dictionaries(
    {"message": MESSAGES},
    optional={
        "finish_reason": TEXT_OR_NONE,
        "index": st.integers() | st.none(),
        "logprobs": JSON_VALUES,
    },
)
ANSWERS = st.fixed_dictionaries(
    {"choices": st.lists(CHOICES, min_size=1, max_size=3)},
    optional={
        "id": TEXT_OR_NONE,
        "object": TEXT_OR_NONE,
        "created": st.integers() | st.floats(allow_nan=False) | st.none(),
        "model": TEXT_OR_NONE,
        "usage": JSON_VALUES,
        "system_fingerprint": JSON_VALUES,
    },
)
"""Well-formed chat completions."""
ANY_VALUE = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
PLACES = [
    ("id",),
    ("object",),
    ("created",),
    ("model",),
    ("choices",),
    ("choices", 0),
    ("choices", 0, "message"),
    ("choices", 0, "message", "role"),
    ("choices", 0, "message", "content"),
    ("choices", 0, "finish_reason"),
    ("choices", 0, "index"),
]
"""Every place the schema checks a type, for a well-formed answer to go wrong in."""


def model_accepts(data: object) -> bool:
    try:
        RunActionResponse.model_validate(data)
    except ValidationError:
        return False
    return True


def replaced(answer: dict[str, object], place: tuple[str | int, ...], value: object) -> object:
    """``answer`` with the value at ``place`` replaced (or added), if that place can exist."""
    changed = copy.deepcopy(answer)
    parent: object = changed
    for step in place[:-1]:
        in_dict = isinstance(parent, dict) and step in parent
        in_list = isinstance(parent, list) and isinstance(step, int) and step < len(parent)
        if not (in_dict or in_list):
            return changed
        parent = parent[step]  # type: ignore[index]
    if isinstance(parent, dict):
        parent[place[-1]] = value
    return changed


@settings(max_examples=300)
@given(ANSWERS, st.sampled_from(PLACES), ANY_VALUE | JSON_VALUES)
def test_whatever_the_quick_check_accepts_the_schema_accepts(
    answer: dict[str, object], place: tuple[str | int, ...], value: object
) -> None:
    assert conforms_to_run_response(answer)
    assert model_accepts(answer)
    changed = replaced(answer, place, value)
    if conforms_to_run_response(changed):
        assert model_accepts(changed)


@given(JSON_VALUES)
def test_any_other_json_the_quick_check_accepts_the_schema_accepts(data: object) -> None:
    if conforms_to_run_response(data):
        assert model_accepts(data)


def test_a_usual_chat_completion_takes_the_quick_check() -> None:
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1796640183,
        "model": "gpt-4.1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
        "system_fingerprint": "fp_1",
    }
    assert conforms_to_run_response(answer)
    assert conforms_to_run_response({**answer, "choices": []})
    assert not conforms_to_run_response({**answer, "created": True})  # the schema decides
    assert not conforms_to_run_response({k: v for k, v in answer.items() if k != "choices"})

"""An execute body's quick path gives what ``ExecuteBody`` gives, for any JSON a client sends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llmrelay.api.wire import ExecuteBody, execute_params, parse_body
from llmrelay.errors import BadRequestError
from tests.strategies import JSON_VALUES


def through_the_model(data: object) -> object:
    try:
        return parse_body(ExecuteBody, data).params
    except BadRequestError as exc:
        return ("refused", exc.message)


def through_the_quick_path(data: object) -> object:
    try:
        return execute_params(data)
    except BadRequestError as exc:
        return ("refused", exc.message)


@given(
    st.fixed_dictionaries({"params": JSON_VALUES}, optional={"other": JSON_VALUES}) | JSON_VALUES
)
def test_the_quick_path_answers_as_the_model_does(data: object) -> None:
    assert through_the_quick_path(data) == through_the_model(data)

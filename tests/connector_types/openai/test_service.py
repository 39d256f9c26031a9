"""Kibana's request URL clean-up, with its fast path for URLs that need none."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from llmrelay.connector_types.openai.service import normalise_url

KIBANAS_RULE = re.compile(r"([^:]/)/+")


def kibana_normalised(url: str) -> str:
    return KIBANAS_RULE.sub(r"\1", url[:-1] if url.endswith("/") else url)


@given(st.lists(st.sampled_from(["/", ":", "a", "//", "://", "https://h", "?u=http://x"])))
def test_the_fast_path_gives_what_the_rule_gives(parts: list[str]) -> None:
    url = "".join(parts)
    assert normalise_url(url) == kibana_normalised(url)


def test_doubled_slashes_are_collapsed_and_one_trailing_slash_dropped() -> None:
    assert normalise_url("https://api.openai.com//v1///chat/completions/") == (
        "https://api.openai.com/v1/chat/completions"
    )
    assert normalise_url("http:///x") == "http://x"
    assert normalise_url("https://api.openai.com/v1/chat/completions") == (
        "https://api.openai.com/v1/chat/completions"
    )

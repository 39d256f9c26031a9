"""The dashboard's query parsing, automatic interval and percentile accuracy."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmrelay.errors import BadRequestError
from llmrelay.eventlog.dashboard import PERCENTILE_RELATIVE_ERROR, UsageQuery, percentile_ns
from llmrelay.storage.rollups import latency_bin

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("range_name", "interval", "span"),
    [
        ("15m", "1m", timedelta(minutes=15)),
        ("24h", "1h", timedelta(hours=24)),
        ("7d", "3h", timedelta(days=7)),
        ("30d", "12h", timedelta(days=30)),
    ],
)
def test_each_offered_range_gets_an_automatic_interval(
    range_name: str, interval: str, span: timedelta
) -> None:
    query = UsageQuery.from_params({"range": range_name}, NOW)
    assert (query.start, query.end, query.interval) == (NOW - span, NOW, interval)


def test_a_custom_range_without_an_offset_is_utc_and_defaults_to_24_hours_without_one() -> None:
    query = UsageQuery.from_params(
        {"range": "custom", "start": "2026-11-01T00:00", "end": "2026-11-01T04:00"}, NOW
    )
    assert (query.start, query.interval, query.range_name) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        "5m",
        None,
    )
    assert UsageQuery.from_params({}, NOW).range_name == "24h"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "[end]: "),
        (
            {"start": "2026-11-02T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
            " is not after [start] ",
        ),
        ({"range": "24h", "interval": "2m"}, "[interval]: must be auto or one of 1m,"),
        ({"range": "30d", "interval": "1m"}, "[interval]: 1m is only offered for ranges up"),
        ({"range": "1y"}, "[range]: must be one of 15m, 24h, 7d, 30d or custom; got [1y]"),
        ({"range": "24h", "start": "2026-11-01T00:00:00Z"}, "[range]: give either"),
        ({"end": "2026-11-01T00:00:00Z"}, "[start]: a custom range needs a start"),
        ({"start": "yesterday"}, "[start]: [yesterday] is not an ISO 8601 date and time"),
        ({"connector": "a"}, "[connector]: definition for this key is missing"),
        (
            {"range": "30d", "interval": "3h"},
            "[interval]: 3h gives more than 200 buckets for this range; choose a longer one",
        ),
    ],
)
def test_bad_input_says_which_parameter_is_wrong(params: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequestError) as raised:
        UsageQuery.from_params(params, NOW)
    assert message in raised.value.message


@given(
    st.lists(st.integers(min_value=1_000, max_value=600 * 10**9), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.95, 0.99]),
)
def test_a_percentile_from_the_histogram_is_within_the_stated_error(
    durations_ns: list[int], quantile: float
) -> None:
    histogram: dict[int, int] = {}
    for duration in durations_ns:
        histogram[latency_bin(duration)] = histogram.get(latency_bin(duration), 0) + 1
    exact = sorted(durations_ns)[max(1, math.ceil(quantile * len(durations_ns))) - 1]
    estimate = percentile_ns(histogram, quantile)
    assert estimate is not None
    assert abs(estimate / exact - 1) <= PERCENTILE_RELATIVE_ERROR + 1e-9


def test_no_executions_have_no_percentile() -> None:
    assert percentile_ns({}, 0.5) is None

"""A small, known history of executions for the dashboard tests: every figure is worked out here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette

from llmrelay.eventlog import ExecutionEvent, Outcome

DAY = datetime(2026, 11, 30, tzinfo=UTC)
RANGE = {"start": "2026-11-30T00:30:00Z", "end": "2026-11-30T05:30:00Z", "interval": "1h"}
"""Starts and ends mid-hour, so the edges come from raw events and the middle from rollups."""


async def create(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post(
        "/api/actions/connector",
        json={
            "name": name,
            "connector_type_id": ".gen-ai",
            "config": {"apiProvider": "OpenAI", "apiUrl": "http://127.0.0.1:9/v1/chat/completions"},
            "secrets": {"apiKey": "sk-test"},
        },
    )
    assert response.status_code == 200, response.text
    connector_id: str = response.json()["id"]
    return connector_id


def _event(
    connector_id: str,
    name: str,
    at: timedelta,
    duration_ms: int,
    tokens: tuple[int, int] | None,
    *,
    model: str | None = "gpt-4o",
    outcome: Outcome = "success",
    estimated: bool = False,
    error: str | None = None,
) -> ExecutionEvent:
    start = DAY + at
    return ExecutionEvent(
        id=str(uuid.uuid4()),
        timestamp=start,
        end=start + timedelta(milliseconds=duration_ms),
        duration_ns=duration_ms * 1_000_000,
        outcome=outcome,
        connector_id=connector_id,
        connector_name=name,
        connector_type_id=".gen-ai",
        sub_action="run",
        source="library",
        message=f"action executed: .gen-ai:{connector_id}: {name}",
        provider="OpenAI",
        model=model,
        error_message=error,
        prompt_tokens=None if tokens is None else tokens[0],
        completion_tokens=None if tokens is None else tokens[1],
        total_tokens=None if tokens is None else sum(tokens),
        usage_estimated=None if tokens is None else estimated,
    )


async def write_history(app: Starlette, client: httpx.AsyncClient) -> tuple[str, str]:
    """Alpha and Beta with seven executions, five of them inside ``RANGE``:

    | time  | connector | model       | prompt/completion | ms   | note                  |
    | 00:10 | Alpha     | gpt-4o      | 100/100           | 10   | before the range      |
    | 00:40 | Alpha     | gpt-4o      | 10/5              | 100  |                       |
    | 01:15 | Alpha     | gpt-4o-mini | 20/10             | 200  | estimated             |
    | 02:05 | Alpha     | —           | —                 | 50   | failure "boom"        |
    | 03:00 | Beta      | gpt-4o      | 100/50            | 1000 |                       |
    | 05:20 | Beta      | gpt-4o      | 1/1               | 300  |                       |
    | 05:40 | Beta      | gpt-4o      | 100/100           | 10   | after the range       |

    In range: 5 executions, 1 failure, prompt 131, completion 66, total 197; p50 200 ms and
    p95 1000 ms (nearest rank); Alpha 45 tokens, Beta 152.
    """
    alpha, beta = await create(client, "Alpha"), await create(client, "Beta")
    minutes = lambda m: timedelta(minutes=m)  # noqa: E731
    events = [
        _event(alpha, "Alpha", minutes(10), 10, (100, 100)),
        _event(alpha, "Alpha", minutes(40), 100, (10, 5)),
        _event(alpha, "Alpha", minutes(75), 200, (20, 10), model="gpt-4o-mini", estimated=True),
        _event(alpha, "Alpha", minutes(125), 50, None, model=None, outcome="failure", error="boom"),
        _event(beta, "Beta", minutes(180), 1000, (100, 50)),
        _event(beta, "Beta", minutes(320), 300, (1, 1)),
        _event(beta, "Beta", minutes(340), 10, (100, 100)),
    ]
    writer = app.state.services.events
    for event in events:
        writer.record(event)
    await writer.flush()
    return alpha, beta

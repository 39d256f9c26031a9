"""What an execution leaves in the event log when the provider reports impossible usage, and
the ``execute-start`` event that makes an execution that never ended visible."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.app import create_app
from tests.api.conftest import create_connector
from tests.components import fresh_postgres_database
from tests.conftest import http_client, make_settings
from tests.upstream import Respond, UpstreamServer

BODY = json.dumps({"messages": [{"role": "user", "content": "one two"}]})
RUN = {"params": {"subAction": "run", "subActionParams": {"body": BODY}}}
STREAM = {"params": {"subAction": "stream", "subActionParams": {"body": BODY, "stream": True}}}
HUGE = 2**63


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Starlette]:
    """The app on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        settings = make_settings(tmp_path / "data")
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            yield application
        return
    async with fresh_postgres_database() as url:
        settings = make_settings(tmp_path / "data", **{"database.url": url})
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as http:
        yield http


def completion(usage: object) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": usage,
    }


def streamed(usage: object) -> Respond:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o"}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"content": "hi"}}]},
        {**head, "choices": [], "usage": usage},
    ]
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return Respond(text, headers={"content-type": "text/event-stream"})


async def events_of(app: Starlette, client: httpx.AsyncClient, cid: str) -> list[dict[str, object]]:
    async with asyncio.timeout(15):  # a poisoned batch used to be retried for ever
        await app.state.services.flush_events()
    found = await client.get(f"/api/event_log/connector/{cid}/_find", params={"per_page": 100})
    assert found.status_code == 200
    data: list[dict[str, object]] = found.json()["data"]
    return data


def usage_of(event: dict[str, object]) -> object:
    return event["kibana"]["action"]["execution"]["gen_ai"]["usage"]  # type: ignore[index]


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": HUGE, "completion_tokens": 1, "total_tokens": HUGE + 1},
        {"prompt_tokens": -1, "completion_tokens": 1, "total_tokens": True},
        {"prompt_tokens": 1.5, "completion_tokens": 1, "total_tokens": float(HUGE)},
    ],
    ids=["2^63", "negative-bool", "fraction-float"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_impossible_token_counts_are_stored_as_unknown_and_hold_back_nothing(
    app: Starlette,
    client: httpx.AsyncClient,
    upstream: UpstreamServer,
    usage: dict[str, object],
    stream: bool,
) -> None:
    poisoned = await create_connector(client, upstream.chat_completions_url, name="poisoned")
    other = await create_connector(client, upstream.chat_completions_url, name="other")
    upstream.queue(streamed(usage) if stream else Respond(completion(usage)))
    answer = await client.post(
        f"/api/actions/connector/{poisoned}/_execute", json=STREAM if stream else RUN
    )
    assert answer.status_code == 200
    assert (await client.post(f"/api/actions/connector/{other}/_execute", json=RUN)).json()[
        "status"
    ] == "ok"
    [event] = await events_of(app, client, poisoned)
    assert event["event"]["outcome"] == "success"  # type: ignore[index]
    counts = usage_of(event)
    assert counts["invalid"] is True  # type: ignore[index]
    assert counts == {  # the counts that are counts are kept
        "prompt_tokens": None,
        "completion_tokens": 1,
        "total_tokens": None,
        "estimated": False,
        "invalid": True,
    }
    [later] = await events_of(app, client, other)
    assert usage_of(later)["prompt_tokens"] == 2  # type: ignore[index]
    dashboard = await client.get("/internal/usage", params={"range": "24h"})
    assert dashboard.status_code == 200
    assert dashboard.json()["totals"]["unknown_usage"] == 1  # the poisoned one: unknown

"""Streamed executions over a real socket: events relayed as they arrive, disconnects honoured."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.settings import Settings
from tests.api.conftest import create_connector
from tests.conftest import ADMIN_AUTH
from tests.live import serve_in_thread
from tests.upstream import CutStream, Fail, StreamDelay, UpstreamServer

BODY = '{"messages":[{"role":"user","content":"one two three four"}]}'
STREAM = {"params": {"subAction": "stream", "subActionParams": {"body": BODY, "stream": True}}}


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    with serve_in_thread(create_app(settings)) as base_url:
        async with httpx.AsyncClient(
            base_url=base_url, headers={"kbn-xsrf": "true"}, timeout=10, auth=ADMIN_AUTH
        ) as client:
            yield client


def stream_request(
    client: httpx.AsyncClient, cid: str, sub_action: str, **params: object
) -> httpx.Request:
    body = {"params": {"subAction": sub_action, "subActionParams": params}}
    return client.build_request("POST", f"/api/actions/connector/{cid}/_execute", json=body)


def data_events(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]


async def test_stream_relays_the_provider_events(
    live: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(live, provider="Other", url=upstream.chat_completions_url)
    response = await live.send(stream_request(live, cid, "stream", body=BODY, stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = data_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello! You said: one two three four"
    sent = upstream.last_request.json
    assert sent["stream"] is True
    assert sent["model"] == "local-model"
    # llmrelay asked for usage, and kept the answer to that question to itself
    assert sent["stream_options"] == {"include_usage": True}
    assert all("usage" not in c for c in chunks)


async def test_azure_stream_asks_for_usage(
    live: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(live, provider="Azure OpenAI", url=upstream.azure_url("gpt4o"))
    response = await live.send(stream_request(live, cid, "stream", body=BODY, stream=True))
    assert upstream.last_request.json["stream_options"] == {"include_usage": True}
    chunks = [json.loads(e) for e in data_events(response.text)[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)


async def test_events_reach_the_caller_before_the_provider_finishes(
    live: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(live, provider="Other", url=upstream.chat_completions_url)
    upstream.queue(StreamDelay(0.25))
    started = time.monotonic()
    arrivals: list[float] = []
    async with live.stream(
        "POST",
        f"/api/actions/connector/{cid}/_execute",
        json=STREAM,
    ) as response:
        async for _ in response.aiter_raw():
            arrivals.append(time.monotonic() - started)
    total = arrivals[-1]
    # 9 events 0.25 s apart: the first must arrive long before the last was sent
    assert total >= 1.5
    assert arrivals[0] < total - 1.0
    assert len(arrivals) >= 5


async def test_caller_disconnect_cancels_the_upstream_request(
    live: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(live, provider="Other", url=upstream.chat_completions_url)
    upstream.queue(StreamDelay(0.5))
    async with live.stream(
        "POST",
        f"/api/actions/connector/{cid}/_execute",
        json=STREAM,
    ) as response:
        async for _ in response.aiter_raw():
            break  # leave after the first event
    assert await upstream.wait_for_disconnects_async(1, timeout_s=5)


async def test_stream_cut_by_the_provider_ends_with_an_error_event(
    live: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(live, provider="Other", url=upstream.chat_completions_url)
    upstream.queue(CutStream(after_events=2))
    response = await live.send(stream_request(live, cid, "stream", body=BODY, stream=True))
    assert len(data_events(response.text)) == 3  # two chunks, then the error event's data
    assert "event: error" in response.text
    assert "ECONNRESET" in response.text


async def test_invoke_stream_streams_messages(
    live: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(live, provider="Other", url=upstream.chat_completions_url)
    response = await live.send(
        stream_request(
            live, cid, "invokeStream", messages=[{"role": "user", "content": "hi there"}]
        )
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert data_events(response.text)[-1] == "[DONE]"
    assert upstream.last_request.json == {
        "messages": [{"role": "user", "content": "hi there"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "model": "local-model",
    }


async def test_stream_refused_by_the_provider_is_a_json_error_result(
    live: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(live, provider="Other", url=upstream.chat_completions_url)
    upstream.queue(Fail(429, headers={"Retry-After": "3"}))
    response = await live.send(stream_request(live, cid, "stream", body=BODY, stream=True))
    assert response.headers["content-type"] == "application/json"
    result = response.json()
    assert result["status"] == "error"
    assert result["service_message"].startswith(
        "Status code: 429. Message: API Error: Too Many Requests"
    )


async def test_provider_answering_json_to_a_stream_request_gets_json(
    live: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    # OpenAI provider on a non-official URL: Kibana leaves "stream" out, so the answer is JSON
    cid = await create_connector(live, provider="OpenAI", url=upstream.chat_completions_url)
    response = await live.send(stream_request(live, cid, "stream", body=BODY, stream=True))
    assert response.headers["content-type"] == "application/json"
    assert response.json()["data"]["object"] == "chat.completion"

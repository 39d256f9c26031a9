"""Exact usage for streams: asked for, kept from the caller, estimated when it never comes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.app import create_app
from llmrelay.auth import Principal
from llmrelay.eventlog import ExecutionEvent
from llmrelay.services import open_services
from llmrelay.settings import Settings
from tests.api.conftest import create_connector
from tests.conftest import UPSTREAM_KEY, http_client, make_settings
from tests.tokens import cl100k_tokens
from tests.upstream import CutStream, Rechunk, Respond, UpstreamServer, usage_for

MESSAGES = [{"role": "user", "content": "one two three four"}]
BODY = json.dumps({"messages": MESSAGES})
PROMPT = "<|start|>user\none two three four\n<|end|>"
"""Kibana's prompt text of the stream formula for ``MESSAGES``."""
COMPLETION = '{"content":"Hello! You said: one two three four"}'
"""Kibana's completion text of the stream formula for the test upstream's answer."""


def stream_params(body: str = BODY) -> dict[str, object]:
    return {"params": {"subAction": "stream", "subActionParams": {"body": body, "stream": True}}}


async def run_stream(client: httpx.AsyncClient, cid: str, body: str = BODY) -> str:
    response = await client.post(f"/api/actions/connector/{cid}/_execute", json=stream_params(body))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return response.text


async def last_event(app: Starlette, cid: str) -> ExecutionEvent:
    await app.state.services.flush_events()
    [event, *_] = await app.state.services.actions.recent_executions(
        cid, principal=Principal.local("test")
    )
    return event


def normalised(stream: str) -> str:
    """Ids and times differ between two requests; nothing else may."""
    stream = re.sub(r'"id":"chatcmpl-\d+"', '"id":"ID"', stream)
    return re.sub(r'"created":\d+', '"created":0', stream)


async def direct_stream(upstream: UpstreamServer, body: dict[str, object]) -> str:
    """What the caller would have seen talking to the provider without llmrelay."""
    headers = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
    async with httpx.AsyncClient() as http:
        response = await http.post(upstream.chat_completions_url, json=body, headers=headers)
    return response.text


@pytest.mark.parametrize("provider", ["OpenAI", "Other"])
async def test_the_caller_gets_the_stream_it_would_have_got_and_the_event_the_usage(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer, provider: str
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, provider=provider)
    body = {"messages": MESSAGES, "stream": True, "model": "gpt-4.1"}
    relayed = await run_stream(client, cid, json.dumps(body))
    assert upstream.last_request.json["stream_options"] == {"include_usage": True}
    assert normalised(relayed) == normalised(await direct_stream(upstream, body))
    assert '"usage"' not in relayed
    event = await last_event(app, cid)
    expected = usage_for(MESSAGES)
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (
        expected["prompt_tokens"],
        expected["completion_tokens"],
        expected["total_tokens"],
    )
    assert event.usage_estimated is False


@pytest.mark.parametrize("behaviour", [Rechunk(1), Rechunk(7), Rechunk(50, crlf=True)])
async def test_events_cut_anywhere_by_the_network_are_relayed_whole(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer, behaviour: Rechunk
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url)
    body = {"messages": MESSAGES, "stream": True, "model": "gpt-4.1"}
    upstream.queue(behaviour)
    relayed = await run_stream(client, cid, json.dumps(body))
    direct = await direct_stream(upstream, body)
    if behaviour.crlf:
        direct = direct.replace("\n", "\r\n")
    assert normalised(relayed) == normalised(direct)
    assert relayed.endswith("data: [DONE]\r\n\r\n" if behaviour.crlf else "data: [DONE]\n\n")
    event = await last_event(app, cid)
    assert (event.total_tokens, event.usage_estimated) == (
        usage_for(MESSAGES)["total_tokens"],
        False,
    )


async def test_a_caller_that_asked_for_usage_gets_it(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, provider="Other")
    body = {"messages": MESSAGES, "stream_options": {"include_usage": True}}
    relayed = await run_stream(client, cid, json.dumps(body))
    chunks = [json.loads(line[6:]) for line in relayed.split("\n") if line.startswith("data: {")]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == usage_for(MESSAGES)
    assert (await last_event(app, cid)).usage_estimated is False


async def test_a_caller_that_refused_usage_gets_none_and_an_estimate_is_recorded(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, provider="Other")
    body = json.dumps({"messages": MESSAGES, "stream_options": {"include_usage": False}})
    relayed = await run_stream(client, cid, body)
    assert upstream.last_request.json["stream_options"] == {"include_usage": False}
    assert '"usage"' not in relayed
    event = await last_event(app, cid)
    assert event.usage_estimated is True
    assert event.prompt_tokens == cl100k_tokens(PROMPT)
    assert event.completion_tokens == cl100k_tokens(COMPLETION)
    assert event.total_tokens == event.prompt_tokens + event.completion_tokens


@pytest.mark.parametrize("status", [400, 422])
async def test_a_server_refusing_stream_options_is_asked_again_without_them_once(
    app: Starlette, client: httpx.AsyncClient, status: int
) -> None:
    async with UpstreamServer(
        api_key=UPSTREAM_KEY, reject_unknown_fields=True, unknown_fields_status=status
    ) as strict:
        cid = await create_connector(client, strict.chat_completions_url, provider="Other")
        first = await run_stream(client, cid)
        second = await run_stream(client, cid)
        sent = [r.json for r in strict.requests]
    assert first.endswith("data: [DONE]\n\n")
    assert "Hello! " in second
    # refused once, asked again without; the next execution does not ask at all
    assert [isinstance(b, dict) and "stream_options" in b for b in sent] == [True, False, False]
    event = await last_event(app, cid)
    assert event.outcome == "success"
    assert event.usage_estimated is True
    assert (event.prompt_tokens, event.completion_tokens) == (
        cl100k_tokens(PROMPT),
        cl100k_tokens(COMPLETION),
    )


async def test_a_refusal_of_the_callers_own_field_reaches_the_caller(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    async with UpstreamServer(api_key=UPSTREAM_KEY, reject_unknown_fields=True) as strict:
        cid = await create_connector(client, strict.chat_completions_url, provider="Other")
        body = json.dumps({"messages": MESSAGES, "metadata": {"a": "b"}})
        response = await client.post(
            f"/api/actions/connector/{cid}/_execute", json=stream_params(body)
        )
        sent = [r.json for r in strict.requests]
    result = response.json()
    assert result["status"] == "error"
    # asked once more without llmrelay's field: what is refused then is the caller's own
    assert len(sent) == 2
    assert "stream_options" not in sent[1]
    assert "Unrecognized request argument supplied: metadata" in result["service_message"]


def sse(*chunks: object) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + (
        b"data: [DONE]\n\n"
    )


def chunk(content: str) -> dict[str, object]:
    delta = {"index": 0, "delta": {"content": content}, "finish_reason": None}
    return {"object": "chat.completion.chunk", "model": "m", "choices": [delta]}


EVENT_STREAM = {"content-type": "text/event-stream"}


@pytest.mark.parametrize(
    ("usage", "recorded"),
    [
        ({"prompt_tokens": "lots", "completion_tokens": None}, None),
        ("many", None),
        ({"prompt_tokens": 7}, (7, None, None, False)),
        (
            {"prompt_tokens": 7, "completion_tokens": -1, "total_tokens": 2.5},
            (7, None, None, False),
        ),
    ],
)
async def test_usage_that_is_not_numbers_is_unknown_and_the_caller_notices_nothing(
    app: Starlette,
    client: httpx.AsyncClient,
    upstream: UpstreamServer,
    usage: object,
    recorded: tuple[int | None, int | None, int | None, bool] | None,
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, provider="Other")
    final = {"object": "chat.completion.chunk", "choices": [], "usage": usage}
    upstream.queue(Respond(sse(chunk("Hello "), chunk("there"), final), headers=EVENT_STREAM))
    relayed = await run_stream(client, cid)
    assert relayed == sse(chunk("Hello "), chunk("there")).decode()
    event = await last_event(app, cid)
    got = (event.prompt_tokens, event.completion_tokens, event.total_tokens, event.usage_estimated)
    if recorded is None:  # nothing usable: estimated instead, never zero
        assert got == (
            cl100k_tokens(PROMPT),
            cl100k_tokens('{"content":"Hello there"}'),
            cl100k_tokens(PROMPT) + cl100k_tokens('{"content":"Hello there"}'),
            True,
        )
    else:
        assert got == recorded


async def test_a_stream_cut_by_the_provider_is_estimated_from_what_came(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, provider="Other")
    upstream.queue(CutStream(after_events=3))  # role, "Hello! ", "You "
    relayed = await run_stream(client, cid)
    assert "event: error" in relayed
    event = await last_event(app, cid)
    assert event.outcome == "failure"
    assert event.usage_estimated is True
    assert event.prompt_tokens == cl100k_tokens(PROMPT)
    assert event.completion_tokens == cl100k_tokens('{"content":"Hello! You "}')


async def test_invoke_stream_is_estimated_with_kibanas_invoke_stream_formula(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, provider="Other")
    upstream.queue(CutStream(after_events=2))
    params = {"subAction": "invokeStream", "subActionParams": {"messages": MESSAGES}}
    await client.post(f"/api/actions/connector/{cid}/_execute", json={"params": params})
    event = await last_event(app, cid)
    assert event.usage_estimated is True
    assert event.prompt_tokens == cl100k_tokens("<|start|>user\none two three four<|end|>")
    assert event.completion_tokens == cl100k_tokens("Hello! ")


async def test_a_json_answer_without_usage_to_a_stream_request_is_estimated(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, provider="Other")
    answer = {"choices": [{"message": {"role": "assistant", "content": "Hi"}}]}
    upstream.queue(Respond(answer))
    response = await client.post(f"/api/actions/connector/{cid}/_execute", json=stream_params())
    assert response.json()["data"] == answer
    event = await last_event(app, cid)
    assert event.usage_estimated is True
    assert event.completion_tokens == cl100k_tokens('{"content":"Hi"}')


async def test_without_a_tokenizer_counts_stay_unknown_and_the_stream_is_unharmed(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    settings = make_settings(tmp_path / "data", **{"event_log.tokenizer_dir": str(tmp_path)})
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        http_client(app) as client,
    ):
        cid = await create_connector(client, upstream.chat_completions_url, provider="Other")
        upstream.queue(CutStream(after_events=3))
        relayed = await run_stream(client, cid)
        event = await last_event(app, cid)
    assert '"content":"You "' in relayed
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (None, None, None)
    assert event.usage_estimated is None


async def test_a_server_loads_the_tokenizer_before_its_first_request(settings: Settings) -> None:
    for at_start in (False, True):
        app = create_app(settings, load_tokenizer_at_start=at_start)
        async with app.router.lifespan_context(app):
            assert app.state.services.tokens.loaded is at_start


async def test_an_estimate_still_counting_at_shutdown_is_written(
    settings: Settings, upstream: UpstreamServer
) -> None:
    async with open_services(settings) as services:
        created = await services.actions.create(
            name="n",
            connector_type_id=".gen-ai",
            config={
                "apiProvider": "Other",
                "apiUrl": upstream.chat_completions_url,
                "defaultModel": "m",
            },
            secrets={"apiKey": UPSTREAM_KEY},
            principal=Principal.local("test"),
        )
        body = json.dumps({"messages": MESSAGES, "stream_options": {"include_usage": False}})
        result = await services.actions.execute(
            created.id,
            stream_params(body)["params"],  # type: ignore[arg-type]
            principal=Principal.local("test"),
        )
        assert result.stream is not None
        async for _ in result.stream.chunks:
            pass
        await result.stream.aclose()
        # leave at once: the count runs in a thread, and shutdown must wait for it
    async with open_services(settings) as services:
        [event] = await services.actions.recent_executions(
            created.id, principal=Principal.local("test")
        )
    assert event.usage_estimated is True
    assert event.prompt_tokens == cl100k_tokens(PROMPT)

"""Every execution leaves an event: outcome, duration, model, tokens, and why it failed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.actions_client import Connector
from llmrelay.app import create_app
from llmrelay.auth import Principal
from llmrelay.errors import ForbiddenError
from llmrelay.eventlog import ExecutionEvent
from llmrelay.services import Services, open_services
from llmrelay.settings import Settings
from llmrelay.storage import AuditFilter
from tests.api.conftest import create_connector
from tests.conftest import ADMIN_AUTH, UPSTREAM_KEY, api_client, make_settings
from tests.live import serve_in_thread
from tests.tokens import cl100k_tokens
from tests.upstream import Fail, Respond, Slow, StreamDelay, UpstreamServer

BODY = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"count my tokens"}]}'


async def events_of(app: Starlette, connector_id: str) -> list[ExecutionEvent]:
    services = app.state.services
    await services.flush_events()
    found: list[ExecutionEvent] = await services.actions.recent_executions(
        connector_id, principal=Principal.local("test")
    )
    return found


async def test_a_run_records_provider_usage(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, name="logged")
    run = {"params": {"subAction": "run", "subActionParams": {"body": BODY}}}
    await client.post(f"/api/actions/connector/{cid}/_execute", json=run)
    [event] = await events_of(app, cid)
    assert (event.outcome, event.sub_action, event.source) == ("success", "run", "http_request")
    assert (event.provider, event.model) == ("OpenAI", "gpt-4o-mini")
    assert (event.prompt_tokens, event.completion_tokens) == (3, 6)
    assert event.total_tokens == 9
    assert event.usage_estimated is False
    assert event.message == f"action executed: .gen-ai:{cid}: logged"
    assert event.duration_ns > 0


async def test_failures_say_why(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, name="logged")
    upstream.queue(Fail(500, ""))
    run = {"params": {"subAction": "run", "subActionParams": {"body": BODY}}}
    await client.post(f"/api/actions/connector/{cid}/_execute", json=run)
    await client.post(f"/api/actions/connector/{cid}/_execute", json={"params": {}})
    invalid, failed = await events_of(app, cid)
    assert failed.outcome == "failure"
    assert failed.error_message == (
        "an error occurred while running the action: Status code: 500. "
        "Message: API Error: Internal Server Error; retry: true"
    )
    assert failed.total_tokens is None
    assert invalid.outcome == "failure"
    assert invalid.error_message is not None
    assert invalid.error_message.startswith("error validating action params: [subAction]")


async def test_usage_that_is_not_numbers_is_unknown_not_zero(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(
        client, upstream.chat_completions_url, provider="Other", name="logged"
    )
    answer = {
        "choices": [{"message": {"role": "assistant", "content": "hi"}}],
        "usage": {"prompt_tokens": "many", "completion_tokens": 2, "total_tokens": None},
    }
    upstream.queue(Respond(answer))
    run = {"params": {"subAction": "run", "subActionParams": {"body": BODY}}}
    result = (await client.post(f"/api/actions/connector/{cid}/_execute", json=run)).json()
    [event] = await events_of(app, cid)
    assert result["status"] == "ok"  # unlike Kibana, bad usage never breaks the answer
    assert result["data"]["choices"][0]["message"]["content"] == "hi"
    assert (event.outcome, event.prompt_tokens, event.completion_tokens) == ("success", None, 2)
    assert (event.total_tokens, event.usage_estimated) == (None, False)


async def test_a_run_without_usage_is_answered_and_estimated(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, name="logged")
    upstream.queue(Respond({"choices": [{"message": {"role": "assistant", "content": "hi"}}]}))
    run = {"params": {"subAction": "run", "subActionParams": {"body": BODY}}}
    result = (await client.post(f"/api/actions/connector/{cid}/_execute", json=run)).json()
    [event] = await events_of(app, cid)
    assert result["status"] == "ok"
    assert (event.outcome, event.usage_estimated) == ("success", True)
    assert event.prompt_tokens == cl100k_tokens("<|start|>user\ncount my tokens\n<|end|>")
    assert event.completion_tokens == cl100k_tokens('{"content":"hi"}')
    assert event.total_tokens == event.prompt_tokens + event.completion_tokens


async def test_a_stream_is_recorded_when_it_ends_with_its_usage(
    settings: Settings, upstream: UpstreamServer
) -> None:
    stream = {"params": {"subAction": "stream", "subActionParams": {"body": BODY, "stream": True}}}
    with serve_in_thread(create_app(settings)) as base_url:
        async with httpx.AsyncClient(
            base_url=base_url, headers={"kbn-xsrf": "1"}, auth=ADMIN_AUTH
        ) as client:
            cid = await create_connector(
                client, upstream.azure_url("gpt4o"), provider="Azure OpenAI", name="logged"
            )
            response = await client.post(f"/api/actions/connector/{cid}/_execute", json=stream)
            assert "[DONE]" in response.text
            upstream.queue(StreamDelay(0.3))
            async with client.stream(
                "POST", f"/api/actions/connector/{cid}/_execute", json=stream
            ) as abandoned:
                async for _ in abandoned.aiter_raw():
                    break
            assert await upstream.wait_for_disconnects_async(1)
            recorded = await events_written_by_the_server(settings, cid, count=2)
    whole = next(e for e in recorded if e.error_message is None)
    left = next(e for e in recorded if e.error_message is not None)
    assert (whole.outcome, whole.model, whole.total_tokens) == ("success", "gpt4o", 9)
    assert left.error_message == "the caller closed the stream before it ended"
    # the usage chunk never came: counted from the request and the text relayed before leaving
    assert left.usage_estimated is True
    assert left.prompt_tokens == cl100k_tokens("<|start|>user\ncount my tokens\n<|end|>")
    assert left.completion_tokens is not None
    assert left.completion_tokens >= cl100k_tokens('{"content":""}')


async def test_with_the_event_log_off_executions_leave_no_event(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    settings = make_settings(tmp_path / "data", **{"event_log.enabled": False})
    run = {"params": {"subAction": "run", "subActionParams": {"body": BODY}}}
    stream = {"params": {"subAction": "stream", "subActionParams": {"body": BODY, "stream": True}}}
    async with api_client(settings) as client:
        cid = await create_connector(
            client, upstream.azure_url("gpt4o"), provider="Azure OpenAI", name="unlogged"
        )
        response = await client.post(f"/api/actions/connector/{cid}/_execute", json=run)
        assert response.json()["status"] == "ok"
        response = await client.post(f"/api/actions/connector/{cid}/_execute", json=stream)
        assert "[DONE]" in response.text
    async with open_services(settings) as services:
        found = await services.actions.recent_executions(cid, principal=Principal.local("test"))
        assert found == []


async def events_written_by_the_server(
    settings: Settings, connector_id: str, count: int
) -> list[ExecutionEvent]:
    """The server writes events on its own loop; read them from the database it shares.
    Only finished executions count (a stream's ``execute-start`` row is there while it runs)."""
    async with open_services(settings) as services:
        for _ in range(100):
            found = await services.actions.recent_executions(
                connector_id, principal=Principal.local("test")
            )
            found = [e for e in found if e.action == "execute"]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
    raise AssertionError(f"the server wrote fewer than {count} events")


async def openai_connector(services: Services, upstream: UpstreamServer, name: str) -> Connector:
    """A connector made through the Python API, as a library user makes one."""
    return await services.actions.create(
        name=name,
        connector_type_id=".gen-ai",
        config={"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url},
        secrets={"apiKey": UPSTREAM_KEY},
        principal=Principal.local("test"),
    )


async def test_a_run_cancelled_by_its_caller_is_recorded_as_a_failure_not_left_running(
    settings: Settings, upstream: UpstreamServer
) -> None:
    """A library caller that gives up on a slow provider (a timeout around ``execute``)
    cancels the execution; its event says so, instead of an ``execute-start`` that would count
    as running for ever."""
    run = {"subAction": "run", "subActionParams": {"body": BODY}}
    local = Principal.local("test")
    async with open_services(settings) as services:
        created = await openai_connector(services, upstream, "slow")
        upstream.queue(Slow(5.0))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await services.actions.execute(created.id, run, principal=local)
        assert await upstream.wait_for_disconnects_async(1, timeout_s=5)
        await services.events.flush()
        everything = await services.actions.recent_executions(created.id, principal=local)
    assert [(e.action, e.outcome, e.error_message) for e in everything] == [
        ("execute", "failure", "the caller went away before the provider answered")
    ]  # and no start row left behind


async def test_finding_a_connector_needs_the_right_to_read_connectors(
    settings: Settings, upstream: UpstreamServer
) -> None:
    """``ActionsClient.find`` (the OpenAI-compatible API's lookup by id or name) checks the
    principal like every other use case, and audits the refusal."""
    reader = Principal("r", "api_key", ("custom",), frozenset({"connectors:read"}))
    nobody = Principal("n", "api_key", ("custom",), frozenset())
    async with open_services(settings) as services:
        created = await openai_connector(services, upstream, "findable")
        assert (await services.actions.find("findable", principal=reader)).id == created.id
        with pytest.raises(ForbiddenError):
            await services.actions.find("findable", principal=nobody)
        await services.audit.flush()
        _, denied = await services.audit.find(
            AuditFilter(action="access_denied"), page=1, per_page=5
        )
    assert [(e.user_name, e.message) for e in denied] == [("n", "connector_get")]

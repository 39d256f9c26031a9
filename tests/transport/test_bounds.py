"""``responseTimeout`` and ``maxResponseContentLength`` bound every call, streamed or not.

A call that passes either fails with a clear error and leaves a failure event; nothing hangs.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.app import create_app
from tests.api.conftest import create_connector
from tests.api.test_event_recording import events_of, events_written_by_the_server
from tests.api.test_execute import execute
from tests.conftest import ADMIN_AUTH, api_client, http_client, make_settings
from tests.live import serve_in_thread
from tests.upstream import Respond, Slow, StreamDelay, UpstreamServer

HELLO = '{"messages":[{"role":"user","content":"Hello world"}]}'
LIMIT = 2048
TOO_LARGE = (
    "Status code: undefined. Message: Unexpected API Error: ERR_BAD_RESPONSE - "
    f"maxContentLength size of {LIMIT} exceeded"
)


@pytest.fixture
async def bounded_app(tmp_path: Path) -> Starlette:
    settings = make_settings(
        tmp_path / "data",
        **{"actions.response_timeout_s": 0.3, "actions.max_response_content_length_bytes": LIMIT},
    )
    return create_app(settings)


def big_completion() -> dict[str, object]:
    return {
        "id": "x",
        "choices": [{"message": {"role": "assistant", "content": "word " * LIMIT}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": LIMIT, "total_tokens": LIMIT + 1},
    }


@pytest.mark.parametrize("sub_action", ["run", "stream"])
async def test_an_answer_larger_than_the_limit_fails_and_is_recorded(
    bounded_app: Starlette, upstream: UpstreamServer, sub_action: str
) -> None:
    """A streamed request answered with plain JSON is read whole, so it is limited too."""
    async with (
        bounded_app.router.lifespan_context(bounded_app),
        http_client(bounded_app) as client,
    ):
        cid = await create_connector(client, upstream.chat_completions_url, provider="Other")
        upstream.queue(Respond(big_completion()))
        params: dict[str, object] = {"body": HELLO}
        if sub_action == "stream":
            params["stream"] = True
        result = await execute(client, cid, sub_action, **params)
        assert result["status"] == "error"
        assert result["service_message"] == TOO_LARGE
        [event] = await events_of(bounded_app, cid)
    assert event.outcome == "failure"
    assert event.error_message is not None
    assert TOO_LARGE in event.error_message


async def test_a_provider_that_never_answers_times_out(
    bounded_app: Starlette, upstream: UpstreamServer
) -> None:
    async with (
        bounded_app.router.lifespan_context(bounded_app),
        http_client(bounded_app) as client,
    ):
        cid = await create_connector(client, upstream.chat_completions_url, provider="Other")
        upstream.queue(Slow(5.0))
        started = time.monotonic()
        result = await execute(client, cid, "stream", body=HELLO, stream=True)
        assert time.monotonic() - started < 3
        assert result["service_message"] == (
            "Status code: undefined. Message: Unexpected API Error: ECONNABORTED - "
            "timeout of 300ms exceeded"
        )
        [event] = await events_of(bounded_app, cid)
    assert event.outcome == "failure"


async def test_a_stream_that_stalls_is_cut_and_recorded(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    """The timeout bounds every gap between chunks: a stalled stream ends, it does not hang."""
    settings = make_settings(tmp_path / "data", **{"actions.response_timeout_s": 0.3})
    stream = {"params": {"subAction": "stream", "subActionParams": {"body": HELLO, "stream": True}}}
    with serve_in_thread(create_app(settings)) as base_url:
        async with httpx.AsyncClient(
            base_url=base_url, headers={"kbn-xsrf": "1"}, auth=ADMIN_AUTH, timeout=10
        ) as client:
            cid = await create_connector(client, upstream.chat_completions_url, provider="Other")
            upstream.queue(StreamDelay(1.5))
            started = time.monotonic()
            received = b""
            try:
                async with client.stream(
                    "POST", f"/api/actions/connector/{cid}/_execute", json=stream
                ) as response:
                    async for chunk in response.aiter_raw():
                        received += chunk
            except httpx.RemoteProtocolError:
                pass  # the relay may end the chunked body abruptly: that is the signal
            assert time.monotonic() - started < 3
            assert b"[DONE]" not in received
            [event] = await events_written_by_the_server(settings, cid, count=1)
    assert event.outcome == "failure"
    assert event.error_message is not None
    assert "timeout of 300ms exceeded" in event.error_message


@pytest.mark.parametrize("sub_action", ["run", "stream"])
async def test_a_proxy_that_never_answers_times_out(
    tmp_path: Path, upstream: UpstreamServer, sub_action: str
) -> None:
    """A proxy that accepts the connection and then says nothing (no CONNECT answer)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        proxy = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = make_settings(
            tmp_path / "data",
            **{"actions.response_timeout_s": 0.3, "actions.proxy_url": proxy},
        )
        async with api_client(settings) as client:
            url = "https://127.0.0.1:9/v1/chat/completions"  # never reached: the proxy is mute
            cid = await create_connector(client, url, provider="Other")
            started = time.monotonic()
            params: dict[str, object] = {"body": HELLO, "timeout": 300}
            if sub_action == "stream":
                params["stream"] = True
            # a regression must fail here, not hang the suite
            result = await asyncio.wait_for(execute(client, cid, sub_action, **params), 10)
            assert time.monotonic() - started < 3
    assert result["service_message"] == (
        "Status code: undefined. Message: Unexpected API Error: ECONNABORTED - "
        "timeout of 300ms exceeded"
    )

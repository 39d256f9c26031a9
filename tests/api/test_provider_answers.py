"""Provider answers no client could use: each is a failed execution with a clear reason, in
the route's own error shape, and an event saying why; never a bare 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette

from tests.api.conftest import api_key_header, create_api_key, create_connector
from tests.api.test_event_recording import events_of
from tests.upstream import Fail, Respond, UpstreamServer

BODY = '{"messages":[{"role":"user","content":"hi"}]}'
RUN = {"params": {"subAction": "run", "subActionParams": {"body": BODY}}}
STREAM = {"params": {"subAction": "stream", "subActionParams": {"body": BODY, "stream": True}}}
ANSWER = (
    '{{"id":"c1","object":"chat.completion","choices":[{{"index":0,"message":{{"role":'
    '"assistant","content":"x"}}}}],"usage":{{"prompt_tokens":{},"completion_tokens":1}}}}'
)
DEEP = "[" * 100_000 + "]" * 100_000
SSE = {"content-type": "text/event-stream"}
CHUNK = (
    b'data: {"id":"c1","object":"chat.completion.chunk",'
    b'"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
)


async def failed_run(
    app: Starlette, client: httpx.AsyncClient, cid: str, params: dict[str, object] = RUN
) -> tuple[dict[str, object], str]:
    """The execute response of a failed run, and its event's error message."""
    response = await client.post(f"/api/actions/connector/{cid}/_execute", json=params)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    assert result["status"] == "error", result
    [event] = await events_of(app, cid)
    assert event.outcome == "failure"
    assert event.error_message is not None
    return result, event.error_message


async def test_a_retry_after_of_twenty_digits_is_taken_as_a_day(
    stored_app: tuple[Starlette, httpx.AsyncClient], upstream: UpstreamServer
) -> None:
    app, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    upstream.queue(Fail(429, None, {"Retry-After": "9" * 20}))
    result, error = await failed_run(app, client, cid)
    assert str(result["service_message"]).startswith("Status code: 429. Message: API Error")
    retry = datetime.fromisoformat(str(result["retry"]).replace("Z", "+00:00"))
    assert timedelta(hours=23) < retry - datetime.now(UTC) <= timedelta(days=1)
    assert "Status code: 429" in error
    assert "; retry at " in error


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("NaN", "NaN is not a JSON value"),
        ("Infinity", "Infinity is not a JSON value"),
        ("-Infinity", "-Infinity is not a JSON value"),
        ("1e400", "1e400 is beyond the range of a number"),
    ],
)
async def test_non_numbers_in_an_answer_are_a_response_validation_failure(
    stored_app: tuple[Starlette, httpx.AsyncClient],
    upstream: UpstreamServer,
    number: str,
    reason: str,
) -> None:
    app, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    upstream.queue(Respond(ANSWER.format(number)))
    result, error = await failed_run(app, client, cid)
    expected = (
        f"Response validation failed (Error: the provider's answer is not valid JSON: {reason})"
    )
    assert result["service_message"] == expected
    assert expected in error


@pytest.mark.parametrize("params", [RUN, STREAM], ids=["run", "stream answered with JSON"])
async def test_an_answer_nested_100000_deep_is_refused(
    stored_app: tuple[Starlette, httpx.AsyncClient],
    upstream: UpstreamServer,
    params: dict[str, object],
) -> None:
    app, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    upstream.queue(Respond(DEEP))
    result, error = await failed_run(app, client, cid, params)
    expected = (
        "Response validation failed (Error: the provider's answer is not valid JSON: "
        "JSON nested deeper than 1024 levels)"
    )
    assert result["service_message"] == expected
    assert expected in error


@pytest.mark.parametrize("params", [RUN, STREAM], ids=["run", "stream"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_says_where_the_provider_pointed(
    stored_app: tuple[Starlette, httpx.AsyncClient],
    upstream: UpstreamServer,
    params: dict[str, object],
    status: int,
) -> None:
    app, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    upstream.queue(Respond("", status, {"location": "https://elsewhere.test/v1/chat"}))
    result, error = await failed_run(app, client, cid, params)
    message = str(result["service_message"])
    assert message.startswith(f"Status code: {status}. Message: API Error: ")
    assert "the provider redirected to https://elsewhere.test/v1/chat" in message
    assert "redirects are not followed" in message
    assert "validation" not in message
    assert "redirected to https://elsewhere.test/v1/chat" in error
    assert len(upstream.requests) == 1  # not followed


async def openai_client(app: Starlette, client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://llmrelay.test",
        headers=api_key_header(await create_api_key(client)),
    )


@pytest.mark.parametrize(
    ("answer", "status", "code", "says"),
    [
        (Respond(ANSWER.format("NaN")), 502, "bad_upstream_response", "NaN is not a JSON value"),
        (Respond(DEEP), 502, "bad_upstream_response", "nested deeper than 1024 levels"),
        (
            Respond("", 302, {"location": "https://elsewhere.test/"}),
            502,
            "upstream_redirected",
            "redirected to https://elsewhere.test/",
        ),
    ],
    ids=["NaN", "deep", "redirect"],
)
async def test_the_openai_api_answers_them_in_openai_shape(
    stored_app: tuple[Starlette, httpx.AsyncClient],
    upstream: UpstreamServer,
    answer: Respond,
    status: int,
    code: str,
    says: str,
) -> None:
    app, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    upstream.queue(answer)
    async with await openai_client(app, client) as sdk:
        response = await sdk.post(
            "/v1/chat/completions",
            json={"model": cid, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert says in error["message"]
    [event] = await events_of(app, cid)
    assert event.outcome == "failure"
    assert says in (event.error_message or "")


MID_STREAM_ERRORS = [
    pytest.param(
        CHUNK + b'event: error\ndata: {"error":{"message":"The server is overloaded","type":'
        b'"server_error"}}\n\n',
        "The server is overloaded",
        id="event: error",
    ),
    pytest.param(
        CHUNK + b'data: {"error":{"message":"Stream interrupted by the provider"}}\n\n',
        "Stream interrupted by the provider",
        id="error chunk",
    ),
    pytest.param(
        CHUNK + b"event: error\ndata: upstream went away\n\n",
        "upstream went away",
        id="event: error, text",
    ),
]


@pytest.mark.parametrize(("stream", "message"), MID_STREAM_ERRORS)
async def test_an_error_inside_a_stream_is_a_failure_with_the_providers_message(
    stored_app: tuple[Starlette, httpx.AsyncClient],
    upstream: UpstreamServer,
    stream: bytes,
    message: str,
) -> None:
    app, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    upstream.queue(Respond(stream, 200, SSE))
    response = await client.post(f"/api/actions/connector/{cid}/_execute", json=STREAM)
    assert response.status_code == 200
    assert response.content == stream  # relayed as it came
    [event] = await events_of(app, cid)
    assert event.outcome == "failure"
    assert event.error_message == f"the provider reported an error in the stream: {message}"
    assert event.message.startswith("action execution failure: ")


async def test_an_error_inside_a_stream_on_the_openai_api_is_recorded(
    stored_app: tuple[Starlette, httpx.AsyncClient], upstream: UpstreamServer
) -> None:
    app, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    stream = CHUNK + b'data: {"error":{"message":"quota gone mid-way"}}\n\n'
    upstream.queue(Respond(stream, 200, SSE))
    async with await openai_client(app, client) as sdk:
        response = await sdk.post(
            "/v1/chat/completions",
            json={"model": cid, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == 200
    assert response.content == stream
    [event] = await events_of(app, cid)
    assert event.outcome == "failure"
    assert event.error_message == "the provider reported an error in the stream: quota gone mid-way"


async def test_a_stream_without_errors_is_still_a_success(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url)
    response = await client.post(f"/api/actions/connector/{cid}/_execute", json=STREAM)
    assert response.status_code == 200
    [event] = await events_of(app, cid)
    assert (event.outcome, event.error_message) == ("success", None)


async def test_an_empty_answer_to_a_stream_request_is_still_a_response_validation_failure(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url)
    upstream.queue(Respond(""))
    result, error = await failed_run(app, client, cid, STREAM)
    assert result["service_message"] == "Response validation failed (Error: expected a JSON object)"
    assert "expected a JSON object" in error

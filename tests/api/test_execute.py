"""Running connectors through ``_execute`` against a real upstream LLM server on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.api.conftest import create_connector
from tests.conftest import UPSTREAM_KEY, api_client, make_settings
from tests.upstream import Fail, Respond, Slow, UpstreamServer

HELLO = '{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Hello world"}]}'
T = TypeVar("T")
NO_MODEL = '{"messages":[{"role":"user","content":"Hello world"}]}'


async def execute(
    client: httpx.AsyncClient, connector_id: str, sub_action: str | None, **sub_params: object
) -> dict[str, object]:
    params: dict[str, object] = {} if sub_action is None else {"subAction": sub_action}
    if sub_params:
        params["subActionParams"] = sub_params
    response = await client.post(
        f"/api/actions/connector/{connector_id}/_execute", json={"params": params}
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def openai_url(upstream: UpstreamServer) -> str:
    return f"{upstream.base_url}/v1/chat/completions"


def azure_url(upstream: UpstreamServer) -> str:
    return f"{upstream.base_url}/openai/deployments/gpt4o/chat/completions?api-version=2024-02-01"


async def test_run_returns_the_provider_answer_and_sends_the_body_as_given(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream))
    result = await execute(client, cid, "test", body=HELLO)
    received = upstream.last_request
    assert received.json == json.loads(HELLO)  # a non-official URL: no stream key added
    assert received.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert received.headers["content-type"] == "application/json"
    assert result["status"] == "ok"
    assert result["connector_id"] == cid
    data = result["data"]
    assert isinstance(data, dict)
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["content"] == "Hello! You said: Hello world"
    assert set(result) == {"status", "connector_id", "data"}


async def test_openai_injects_the_default_model_only_when_the_body_has_none(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream), defaultModel="gpt-4o-mini")
    await execute(client, cid, "run", body=NO_MODEL)
    assert upstream.last_request.json == {**json.loads(NO_MODEL), "model": "gpt-4o-mini"}
    await execute(client, cid, "run", body=HELLO)
    assert upstream.last_request.json["model"] == "gpt-3.5-turbo"


async def test_azure_uses_api_key_header_and_no_model(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, azure_url(upstream), provider="Azure OpenAI")
    result = await execute(client, cid, "run", body=NO_MODEL)
    assert result["status"] == "ok", result
    received = upstream.last_request
    assert received.headers["api-key"] == UPSTREAM_KEY
    assert "authorization" not in received.headers
    assert received.query["api-version"] == "2024-02-01"
    # a deployment path: the stream flag is set, the model is never injected
    assert received.body == b'{"messages":[{"role":"user","content":"Hello world"}],"stream":false}'


async def test_other_provider_sends_stream_flag_and_default_model(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(
        client, openai_url(upstream), provider="Other", defaultModel="local-model"
    )
    result = await execute(client, cid, "run", body=NO_MODEL)
    assert result["status"] == "ok", result
    assert upstream.last_request.body == (
        b'{"messages":[{"role":"user","content":"Hello world"}],'
        b'"stream":false,"model":"local-model"}'
    )


async def test_custom_headers_are_sent_and_auth_overrides_them(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(
        client,
        openai_url(upstream),
        headers={"X-Team": "search", "authorization": "override"},
        organizationId="org-1",
        projectId="proj-1",
    )
    await execute(client, cid, "run", body=HELLO)
    headers = upstream.last_request.headers
    assert headers["x-team"] == "search"
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert headers["openai-organization"] == "org-1"
    assert headers["openai-project"] == "proj-1"


async def test_stream_sub_action_without_stream_answers_json(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream))
    result = await execute(client, cid, "stream", body=HELLO, stream=False)
    assert result["status"] == "ok"
    assert isinstance(result["data"], dict)
    assert result["data"]["choices"][0]["message"]["role"] == "assistant"


async def test_invoke_ai_returns_message_and_usage(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream))
    result = await execute(
        client,
        cid,
        "invokeAI",
        messages=[{"role": "user", "content": "Hello world"}],
        temperature=0,
        timeout=5000,
    )
    assert result["status"] == "ok", result
    data = result["data"]
    assert isinstance(data, dict)
    assert data["message"] == "Hello! You said: Hello world"
    assert set(data["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    sent = upstream.last_request.json
    assert sent == {
        "messages": [{"role": "user", "content": "Hello world"}],
        "temperature": 0,
        "model": "gpt-4.1",
    }


async def test_provider_error_becomes_kibana_error_result(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream))
    upstream.queue(
        Fail(
            422,
            {
                "error": {
                    "message": "The model `bad model` does not exist",
                    "type": "invalid_request_error",
                }
            },
        )
    )
    result = await execute(client, cid, "test", body=HELLO)
    assert result == {
        "status": "error",
        "connector_id": cid,
        "message": "an error occurred while running the action",
        "retry": True,
        "errorSource": "framework",
        "service_message": "Status code: 422. Message: API Error: Unprocessable Entity - "
        "The model `bad model` does not exist",
    }


async def test_wrong_api_key_is_an_unauthorized_api_error(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream), api_key="sk-wrong")
    result = await execute(client, cid, "run", body=HELLO)
    message = str(result["service_message"])
    assert message.startswith("Status code: 401. Message: Unauthorized API Error - ")
    assert "sk-wrong" not in json.dumps(result) or "Incorrect API key" in message


async def test_rate_limit_retry_carries_the_providers_retry_after(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream))
    upstream.queue(Fail(429, headers={"Retry-After": "7"}))
    before = datetime.now(UTC)
    result = await execute(client, cid, "run", body=HELLO)
    assert str(result["service_message"]).startswith(
        "Status code: 429. Message: API Error: Too Many Requests"
    )
    retry_at = datetime.fromisoformat(str(result["retry"]).replace("Z", "+00:00"))
    assert 6 <= (retry_at - before).total_seconds() <= 9


async def test_plain_string_error_from_local_servers_is_kept(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream), provider="Other", defaultModel="m")
    upstream.queue(Fail(400, '{"error": "Model not loaded"}'))
    result = await execute(client, cid, "run", body=HELLO)
    assert (
        result["service_message"]
        == "Status code: 400. Message: API Error: Bad Request - Model not loaded"
    )


async def test_server_error_without_body(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream))
    upstream.queue(Fail(500, ""))
    result = await execute(client, cid, "run", body=HELLO)
    assert (
        result["service_message"] == "Status code: 500. Message: API Error: Internal Server Error"
    )


async def test_unreachable_provider(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cid = await create_connector(client, f"http://127.0.0.1:{port}/v1/chat/completions")
    result = await execute(client, cid, "run", body=HELLO)
    assert result["status"] == "error"
    assert result["service_message"] == (
        f"Status code: undefined. Message: Unexpected API Error: ECONNREFUSED - "
        f"connect ECONNREFUSED 127.0.0.1:{port}"
    )


async def test_slow_provider_times_out(tmp_path: Path, upstream: UpstreamServer) -> None:
    settings = make_settings(tmp_path / "data", **{"actions.response_timeout_s": 0.2})
    async with api_client(settings) as client:
        cid = await create_connector(client, openai_url(upstream))
        upstream.queue(Slow(2.0))
        result = await execute(client, cid, "stream", body=HELLO, stream=False)
    assert result["service_message"] == (
        "Status code: undefined. Message: Unexpected API Error: ECONNABORTED - "
        "timeout of 200ms exceeded"
    )


async def test_response_without_usage_is_answered(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    """Kibana fails such a run; many local servers send no usage, so llmrelay answers it."""
    cid = await create_connector(client, openai_url(upstream))
    upstream.queue(Respond({"choices": [{"message": {"role": "assistant", "content": "hi"}}]}))
    result = await execute(client, cid, "run", body=HELLO)
    assert result["status"] == "ok"
    assert result["data"]["choices"][0]["message"]["content"] == "hi"


async def test_response_without_choices_fails_response_validation(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream))
    upstream.queue(Respond({"usage": {"prompt_tokens": 1, "completion_tokens": 1}}))
    result = await execute(client, cid, "run", body=HELLO)
    assert result["service_message"] == (
        "Response validation failed (Error: [choices]: expected value of type [array] "
        "but got [undefined])"
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            {
                "status": "error",
                "message": "error validating action params: [subAction]: expected value of type "
                "[string] but got [undefined]",
                "retry": False,
                "errorSource": "user",
            },
        ),
        (
            {"subAction": "invalidAction"},
            {
                "status": "error",
                "retry": True,
                "message": "an error occurred while running the action",
                "errorSource": "framework",
                "service_message": 'Sub action "invalidAction" is not registered. Connector id: '
                "{cid}. Connector name: OpenAI. Connector type: .gen-ai",
            },
        ),
        (
            {"subAction": "run", "subActionParams": {"body": 5}},
            {
                "status": "error",
                "retry": True,
                "message": "an error occurred while running the action",
                "errorSource": "user",
                "service_message": "Request validation failed (Error: [body]: expected value of "
                "type [string] but got [number])",
            },
        ),
        (
            {"subAction": "run"},
            {
                "status": "error",
                "retry": True,
                "message": "an error occurred while running the action",
                "errorSource": "user",
                "service_message": "Request validation failed (Error: [body]: expected value of "
                "type [string] but got [undefined])",
            },
        ),
    ],
)
async def test_invalid_params_give_kibana_results_and_send_nothing(
    client: httpx.AsyncClient,
    upstream: UpstreamServer,
    params: dict[str, object],
    expected: dict[str, object],
) -> None:
    cid = await create_connector(client, openai_url(upstream))
    response = await client.post(f"/api/actions/connector/{cid}/_execute", json={"params": params})
    body = response.json()
    wanted = {
        k: (v.replace("{cid}", cid) if isinstance(v, str) else v) for k, v in expected.items()
    }
    assert body == {**wanted, "connector_id": cid}
    assert upstream.requests == []


async def test_execute_needs_params_and_an_existing_connector(client: httpx.AsyncClient) -> None:
    missing = await client.post("/api/actions/connector/nope/_execute", json={"params": {}})
    assert missing.status_code == 404
    assert missing.json()["message"] == "Saved object [action/nope] not found"
    no_params = await client.post("/api/actions/connector/nope/_execute", json={})
    assert no_params.status_code == 400
    assert no_params.json()["message"] == (
        "[request body.params]: expected value of type [object] but got [undefined]"
    )


async def test_non_json_body_is_forwarded_unchanged(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream))
    result = await execute(client, cid, "run", body="not json")
    assert upstream.last_request.body == b"not json"
    assert result["status"] == "error"
    assert str(result["service_message"]).startswith("Status code: 400.")


async def test_a_host_no_longer_allowed_is_refused_before_any_byte_leaves(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    async def with_app(allowed: list[str], use: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        settings = make_settings(tmp_path / "data", **{"actions.allowed_hosts": allowed})
        async with api_client(settings) as client:
            return await use(client)

    cid = await with_app(["*"], lambda c: create_connector(c, openai_url(upstream)))
    result = await with_app(["api.openai.com"], lambda c: execute(c, cid, "run", body=HELLO))
    assert result["status"] == "error"
    assert result["errorSource"] == "framework"
    assert result["retry"] is False
    assert str(result["message"]).startswith(
        "error validating action type config: Error configuring OpenAI action: Error: "
        'error validating url: target url "http://127.0.0.1:'
    )
    assert upstream.requests == []


async def test_invoke_ai_message_errors_name_the_nested_field(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, openai_url(upstream))
    result = await execute(client, cid, "invokeAI", messages=[{"role": "user"}])
    assert result["service_message"] == (
        "Request validation failed (Error: [messages.0.content]: expected value of type "
        "[string] but got [undefined])"
    )


async def test_retry_after_as_an_http_date(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    from email.utils import format_datetime

    cid = await create_connector(client, openai_url(upstream))
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    upstream.queue(Fail(503, headers={"Retry-After": format_datetime(later, usegmt=True)}))
    result = await execute(client, cid, "run", body=HELLO)
    retry_at = datetime.fromisoformat(str(result["retry"]).replace("Z", "+00:00"))
    assert abs((retry_at - later).total_seconds()) <= 2

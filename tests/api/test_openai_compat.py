"""The official ``openai`` SDK against llmrelay on a real loopback port, relaying to the upstream.

Every call goes client → llmrelay (uvicorn, own thread) → test upstream (uvicorn, own thread), so
streaming, headers and disconnects are seen as an application would see them.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmrelay.app import create_app
from llmrelay.settings import Settings
from tests.conftest import ADMIN_AUTH, UPSTREAM_KEY, make_settings
from tests.live import serve_in_thread
from tests.upstream import CutStream, Fail, Slow, StreamDelay, UpstreamServer, answer_text

SAID = "one two three four"
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": SAID}]
EXPECTED = answer_text(MESSAGES)


@pytest.fixture
def relay(settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


@pytest.fixture
def admin(relay: str) -> Iterator[httpx.Client]:
    """The Kibana API, to create connectors and read the event log."""
    with httpx.Client(
        base_url=relay, headers={"kbn-xsrf": "true"}, auth=ADMIN_AUTH, timeout=10
    ) as http:
        yield http


def new_key(admin: httpx.Client) -> str:
    """An llmrelay API key of the superuser: what an application is configured with."""
    response = admin.post("/api/security/api_key", json={"name": "sdk"})
    assert response.status_code == 200, response.text
    encoded: str = response.json()["encoded"]
    return encoded


@pytest.fixture
def relay_key(admin: httpx.Client) -> str:
    return new_key(admin)


@pytest.fixture
def sdk(relay: str, relay_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{relay}/v1", api_key=relay_key, max_retries=0) as client:
        yield client


def connector(
    admin: httpx.Client,
    url: str,
    *,
    name: str = "gpt",
    provider: str = "OpenAI",
    api_key: str = UPSTREAM_KEY,
    **config: object,
) -> str:
    if provider == "Other":
        config.setdefault("defaultModel", "local-model")
    response = admin.post(
        "/api/actions/connector",
        json={
            "name": name,
            "connector_type_id": ".gen-ai",
            "config": {"apiProvider": provider, "apiUrl": url, **config},
            "secrets": {"apiKey": api_key},
        },
    )
    assert response.status_code == 200, response.text
    connector_id: str = response.json()["id"]
    return connector_id


def events(admin: httpx.Client, connector_id: str, count: int) -> list[dict[str, Any]]:
    """The connector's events, oldest first, once ``count`` are written (the writer batches)."""
    deadline = time.monotonic() + 5
    while True:
        found = admin.get(
            f"/api/event_log/connector/{connector_id}/_find", params={"sort": "@timestamp:asc"}
        ).json()
        if found["total"] >= count or time.monotonic() > deadline:
            data: list[dict[str, Any]] = found["data"]
            return data
        time.sleep(0.05)


def execution(event: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = event["kibana"]["action"]["execution"]
    return found


CHUNK_HEAD = re.compile(r'"id":"chatcmpl-\d+","object":"chat.completion.chunk","created":\d+')


def without_ids(events: str) -> str:
    return CHUNK_HEAD.sub("", events)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- chat completions ---------------------------------------------------------------------


def test_a_chat_completion_by_connector_name_answers_what_the_provider_answered(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer, relay_key: str
) -> None:
    cid = connector(admin, upstream.chat_completions_url, name="team-gpt")
    completion = sdk.chat.completions.create(model="team-gpt", messages=MESSAGES)
    assert completion.choices[0].message.content == EXPECTED
    assert completion.id.startswith("chatcmpl-")
    assert completion.usage is not None
    assert completion.usage.total_tokens == 4 + 7
    sent = upstream.last_request
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"  # the connector's key
    assert relay_key not in str(sent.headers)
    assert sent.json == {"messages": MESSAGES, "model": "gpt-4.1"}  # the connector's default
    [event] = events(admin, cid, 1)
    assert execution(event)["source"] == "openai_api"
    assert execution(event)["sub_action"] == "run"
    assert event["event"]["outcome"] == "success"


def test_the_model_names_a_connector_by_id_and_may_choose_the_upstream_model(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    cid = connector(admin, upstream.chat_completions_url, name="team-gpt")
    by_id = sdk.chat.completions.create(model=cid, messages=MESSAGES)
    assert by_id.model == "gpt-4.1"
    chosen = sdk.chat.completions.create(model="team-gpt/gpt-4o-mini", messages=MESSAGES)
    assert chosen.model == "gpt-4o-mini"
    assert upstream.last_request.json == {"model": "gpt-4o-mini", "messages": MESSAGES}
    with_slash = sdk.chat.completions.create(model=f"{cid}/org/model-7b", messages=MESSAGES)
    assert with_slash.model == "org/model-7b"
    assert [execution(e)["source"] for e in events(admin, cid, 3)] == ["openai_api"] * 3


def test_the_body_goes_through_the_connector_with_its_provider_shaping_and_headers(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    connector(
        admin,
        upstream.chat_completions_url,
        name="local",
        provider="Other",
        headers={"X-Team": "search"},
    )
    sdk.chat.completions.create(model="local", messages=MESSAGES, temperature=0.5)
    sent = upstream.last_request
    assert sent.headers["x-team"] == "search"
    # "Other" always writes the stream flag and gets its default model
    assert sent.json == {
        "messages": MESSAGES,
        "temperature": 0.5,
        "stream": False,
        "model": "local-model",
    }


def test_a_streamed_completion_is_relayed_chunk_by_chunk_as_it_arrives(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    cid = connector(admin, upstream.chat_completions_url)
    upstream.queue(StreamDelay(0.15))
    arrivals: list[float] = []
    content = ""
    with sdk.chat.completions.create(model="gpt", messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            arrivals.append(time.monotonic())
            if chunk.choices and chunk.choices[0].delta.content:
                content += chunk.choices[0].delta.content
    assert content == EXPECTED
    assert len(arrivals) == 1 + 7 + 1  # role, one per word, finish
    # buffered, they would arrive together; relayed, they keep the upstream's spacing
    assert arrivals[-1] - arrivals[0] > 0.15 * (len(arrivals) - 1) * 0.8
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert sum(gap > 0.05 for gap in gaps) >= len(gaps) // 2  # most, even on a loaded machine
    # llmrelay asks for usage; the usage chunk it asked for is withheld (9 chunks, not 10)
    assert upstream.last_request.json == {
        "messages": MESSAGES,
        "model": "gpt-4.1",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    [event] = events(admin, cid, 1)
    assert (execution(event)["sub_action"], execution(event)["source"]) == ("stream", "openai_api")


async def test_the_async_client_plain_and_streamed(
    admin: httpx.Client, relay: str, upstream: UpstreamServer, relay_key: str
) -> None:
    cid = connector(admin, upstream.chat_completions_url)
    async with openai.AsyncOpenAI(
        base_url=f"{relay}/v1", api_key=relay_key, max_retries=0
    ) as client:
        completion = await client.chat.completions.create(model="gpt", messages=MESSAGES)
        assert completion.choices[0].message.content == EXPECTED
        upstream.queue(StreamDelay(0.1))
        stream = await client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
        arrivals, content = [], ""
        async for chunk in stream:
            arrivals.append(time.monotonic())
            if chunk.choices and chunk.choices[0].delta.content:
                content += chunk.choices[0].delta.content
    assert content == EXPECTED
    assert arrivals[-1] - arrivals[0] > 0.1 * (len(arrivals) - 1) * 0.8
    assert [execution(e)["sub_action"] for e in events(admin, cid, 2)] == ["run", "stream"]


async def test_a_client_that_leaves_a_stream_cancels_the_upstream_request(
    admin: httpx.Client, relay: str, upstream: UpstreamServer, relay_key: str
) -> None:
    cid = connector(admin, upstream.chat_completions_url)
    upstream.queue(StreamDelay(0.5))
    async with openai.AsyncOpenAI(
        base_url=f"{relay}/v1", api_key=relay_key, max_retries=0
    ) as client:
        stream = await client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
        async for _ in stream:
            break  # the role chunk, then leave
        await stream.close()
    assert await upstream.wait_for_disconnects_async(1, timeout_s=5)
    [event] = events(admin, cid, 1)
    assert execution(event)["sub_action"] == "stream"


def test_a_stream_that_breaks_off_raises_an_api_error_in_the_sdk(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    connector(admin, upstream.chat_completions_url)
    upstream.queue(CutStream(after_events=3))
    stream = sdk.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    received = [next(stream) for _ in range(3)]
    with pytest.raises(openai.APIError) as raised:
        next(stream)
    assert len(received) == 3
    assert "socket hang up" in raised.value.message
    assert raised.value.code == "upstream_stream_broken"


# --- Azure clients ----------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["Azure OpenAI", "OpenAI"])
def test_the_azure_client_uses_any_connector_as_a_deployment(
    admin: httpx.Client, relay: str, upstream: UpstreamServer, provider: str, relay_key: str
) -> None:
    url = (
        upstream.azure_url("gpt-4o")
        if provider == "Azure OpenAI"
        else upstream.chat_completions_url
    )
    cid = connector(admin, url, name="team-deployment", provider=provider)
    with openai.AzureOpenAI(
        azure_endpoint=relay, api_version="2024-10-21", api_key=relay_key, max_retries=0
    ) as client:
        completion = client.chat.completions.create(model="team-deployment", messages=MESSAGES)
        with client.chat.completions.create(model=cid, messages=MESSAGES, stream=True) as stream:
            streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert completion.choices[0].message.content == EXPECTED == streamed
    sent = upstream.last_request
    if provider == "Azure OpenAI":
        assert sent.path == "/openai/deployments/gpt-4o/chat/completions"
        assert sent.headers["api-key"] == UPSTREAM_KEY
        assert completion.model == "gpt-4o"
    else:
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert [execution(e)["sub_action"] for e in events(admin, cid, 2)] == ["run", "stream"]


# --- models -------------------------------------------------------------------------------


def test_models_lists_the_connectors_and_retrieves_one_by_id_or_name(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    first = connector(admin, upstream.chat_completions_url, name="b-gpt")
    second = connector(admin, upstream.azure_url(), name="a-azure", provider="Azure OpenAI")
    listed = sdk.models.list()
    assert [m.id for m in listed.data] == [second, first]  # by name, as connectors are listed
    assert {m.object for m in listed.data} == {"model"}
    assert listed.data[0].model_extra == {"name": "a-azure", "connector_id": second}
    by_name = sdk.models.retrieve("b-gpt")
    assert (by_name.id, by_name.owned_by, by_name.model_extra) == (
        "b-gpt",
        "llmrelay",
        {"name": "b-gpt", "connector_id": first},
    )
    assert sdk.models.retrieve(f"{first}/gpt-4o-mini").model_extra == by_name.model_extra
    with pytest.raises(openai.NotFoundError) as raised:
        sdk.models.retrieve("nope")
    assert raised.value.code == "model_not_found"


# --- errors -------------------------------------------------------------------------------


def test_an_unknown_model_is_a_404_in_openai_shape(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    connector(admin, upstream.chat_completions_url)
    with pytest.raises(openai.NotFoundError) as raised:
        sdk.chat.completions.create(model="no-such-connector", messages=MESSAGES)
    assert raised.value.status_code == 404
    assert raised.value.body == {
        "message": "The model `no-such-connector` does not exist: "
        "it names no connector (by id or by name)",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert upstream.requests == []


def test_a_provider_429_is_passed_through_with_its_retry_after(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    cid = connector(admin, upstream.chat_completions_url)
    upstream.queue(Fail.rate_limited(retry_after_s=7), Fail.rate_limited(retry_after_s=3))
    with pytest.raises(openai.RateLimitError) as raised:
        sdk.chat.completions.create(model="gpt", messages=MESSAGES)
    assert raised.value.status_code == 429
    assert raised.value.response.headers["retry-after"] == "7"
    assert raised.value.response.headers["x-llmrelay-error-source"] == "provider"
    assert raised.value.code == "rate_limit_exceeded"
    assert "Please try again in 7s" in raised.value.message
    with pytest.raises(openai.RateLimitError) as streamed:
        sdk.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    assert streamed.value.response.headers["retry-after"] == "3"
    failed = events(admin, cid, 2)
    assert [e["event"]["outcome"] for e in failed] == ["failure", "failure"]


def test_a_bad_upstream_key_is_the_providers_401_and_leaks_no_key(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    connector(admin, upstream.chat_completions_url, api_key="sk-wrong-key-0123456789")
    with pytest.raises(openai.AuthenticationError) as raised:
        sdk.chat.completions.create(model="gpt", messages=MESSAGES)
    assert raised.value.status_code == 401
    assert raised.value.code == "invalid_api_key"
    assert raised.value.response.headers["x-llmrelay-error-source"] == "provider"
    assert "Incorrect API key provided" in raised.value.message
    assert "sk-wrong-key-0123456789" not in raised.value.response.text


def test_a_provider_error_that_is_not_openai_json_is_wrapped_with_its_status(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    connector(admin, upstream.chat_completions_url)
    upstream.queue(Fail(503, "overloaded, come back later", {"Retry-After": "2"}))
    with pytest.raises(openai.InternalServerError) as raised:
        sdk.chat.completions.create(model="gpt", messages=MESSAGES)
    assert raised.value.status_code == 503
    assert raised.value.response.headers["retry-after"] == "2"
    assert raised.value.body == {
        "message": "Status code: 503. Message: API Error: Service Unavailable",
        "type": "upstream_error",
        "param": None,
        "code": None,
    }


@pytest.mark.parametrize("stream", [False, True])
def test_an_unreachable_upstream_is_a_502(
    admin: httpx.Client, sdk: openai.OpenAI, stream: bool
) -> None:
    port = closed_port()
    cid = connector(admin, f"http://127.0.0.1:{port}/v1/chat/completions")
    with pytest.raises(openai.InternalServerError) as raised:
        sdk.chat.completions.create(model="gpt", messages=MESSAGES, stream=stream)
    assert raised.value.status_code == 502
    assert raised.value.code == "upstream_unreachable"
    assert f"connect ECONNREFUSED 127.0.0.1:{port}" in raised.value.message
    [event] = events(admin, cid, 1)
    assert event["event"]["outcome"] == "failure"


def test_an_answer_that_is_not_a_chat_completion_is_a_502(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    connector(admin, upstream.chat_completions_url)
    upstream.queue(Fail(200, "<html>a captive portal</html>"))
    with pytest.raises(openai.InternalServerError) as raised:
        sdk.chat.completions.create(model="gpt", messages=MESSAGES)
    assert (raised.value.status_code, raised.value.code) == (502, "bad_upstream_response")


def test_an_upstream_timeout_is_a_504(tmp_path: Path, upstream: UpstreamServer) -> None:
    settings = make_settings(tmp_path / "data", **{"actions.response_timeout_s": 0.3})
    with (
        serve_in_thread(create_app(settings)) as relay,
        httpx.Client(base_url=relay, headers={"kbn-xsrf": "true"}, auth=ADMIN_AUTH) as admin,
        openai.OpenAI(base_url=f"{relay}/v1", api_key=new_key(admin), max_retries=0) as sdk,
    ):
        connector(admin, upstream.chat_completions_url)
        upstream.queue(Slow(3))
        with pytest.raises(openai.InternalServerError) as raised:
            sdk.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    assert (raised.value.status_code, raised.value.code) == (504, "upstream_timeout")
    assert "timeout of 300ms exceeded" in raised.value.message


def test_only_a_valid_llmrelay_api_key_may_call(
    admin: httpx.Client, relay: str, upstream: UpstreamServer, relay_key: str
) -> None:
    connector(admin, upstream.chat_completions_url)
    body = {"model": "gpt", "messages": MESSAGES}
    invalidated = admin.post("/api/security/api_key", json={"name": "old"}).json()
    gone = admin.request("DELETE", "/api/security/api_key", json={"ids": [invalidated["id"]]})
    assert gone.status_code == 200
    with httpx.Client(base_url=relay) as raw:
        for headers in (
            {},
            {"authorization": "Bearer"},
            {"api-key": ""},
            {"authorization": "Basic x"},
            {"authorization": "Bearer anything"},
            {"authorization": "ApiKey aWQ6c2VjcmV0"},
            {"api-key": "anything"},
            {"authorization": f"Bearer {invalidated['encoded']}"},
        ):
            refused = raw.post("/v1/chat/completions", json=body, headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["error"]["code"] == "invalid_api_key"
            assert refused.headers["www-authenticate"] == "Bearer"
        assert raw.get("/v1/models").status_code == 401
        assert not upstream.requests
        for headers in (
            {"authorization": f"Bearer {relay_key}"},
            {"authorization": f"ApiKey {relay_key}"},
            {"api-key": relay_key},
        ):
            assert raw.post("/v1/chat/completions", json=body, headers=headers).status_code == 200
    assert len(upstream.requests) == 3


def test_a_key_without_the_connectors_privilege_is_a_403_and_lists_nothing(
    admin: httpx.Client, relay: str, upstream: UpstreamServer
) -> None:
    connector(admin, upstream.chat_completions_url)
    no_connectors = {
        "r": {
            "elasticsearch": {
                "indices": [{"names": [".kibana-event-log*"], "privileges": ["read"]}]
            }
        }
    }
    created = admin.post(
        "/api/security/api_key", json={"name": "reader", "role_descriptors": no_connectors}
    )
    assert created.status_code == 200, created.text
    with openai.OpenAI(
        base_url=f"{relay}/v1", api_key=created.json()["encoded"], max_retries=0
    ) as sdk:
        with pytest.raises(openai.PermissionDeniedError) as denied:
            sdk.chat.completions.create(model="gpt", messages=MESSAGES)
        assert "connectors:read" in str(denied.value)
        with pytest.raises(openai.PermissionDeniedError):
            sdk.models.list()
    assert not upstream.requests


def test_each_call_is_attributed_to_the_keys_owner(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    cid = connector(admin, upstream.chat_completions_url)
    sdk.chat.completions.create(model="gpt", messages=MESSAGES)
    [event] = events(admin, cid, 1)
    assert event["user"] == {"name": "admin"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "We could not parse the JSON body of your request"),
        (b"[1, 2]", "We could not parse the JSON body of your request"),
        (b'{"messages": []}', "you must provide a model parameter"),
        (b'{"model": 7, "messages": []}', "you must provide a model parameter"),
        (b'{"model": "gpt", "stream": "yes", "messages": []}', "'stream' must be a boolean"),
        (b'{"model": "gpt", "stream": 1, "messages": []}', "'stream' must be a boolean"),
    ],
)
def test_a_malformed_body_is_a_400_that_says_what_is_wrong(
    relay: str, upstream: UpstreamServer, body: bytes, message: str, relay_key: str
) -> None:
    with httpx.Client(base_url=relay, headers={"authorization": f"Bearer {relay_key}"}) as raw:
        answer = raw.post("/v1/chat/completions", content=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_the_providers_own_400_is_passed_through(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    connector(admin, upstream.chat_completions_url)
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="gpt", messages=[])
    assert raised.value.body == {
        "message": "Invalid 'messages': expected a non-empty array.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": None,
    }


def test_a_connector_whose_host_is_no_longer_allowed_is_a_500_that_says_why(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    data_dir = tmp_path / "data"
    with (
        serve_in_thread(create_app(make_settings(data_dir))) as relay,
        httpx.Client(base_url=relay, headers={"kbn-xsrf": "true"}, auth=ADMIN_AUTH) as admin,
    ):
        connector(admin, upstream.chat_completions_url)
        relay_key = new_key(admin)
    narrowed = make_settings(data_dir, **{"actions.allowed_hosts": ["api.openai.com"]})
    with (
        serve_in_thread(create_app(narrowed)) as relay,
        openai.OpenAI(base_url=f"{relay}/v1", api_key=relay_key, max_retries=0) as sdk,
        pytest.raises(openai.InternalServerError) as raised,
    ):
        sdk.chat.completions.create(model="gpt", messages=MESSAGES)
    assert (raised.value.status_code, raised.value.code) == (500, "connector_unusable")
    assert "is not added to the Kibana config xpack.actions.allowedHosts" in raised.value.message
    assert upstream.requests == []


def test_a_renamed_or_deleted_connector_is_seen_at_once_despite_the_cache(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    cid = connector(admin, upstream.chat_completions_url, name="old-name")
    assert sdk.chat.completions.create(model="old-name", messages=MESSAGES).choices
    renamed = admin.put(
        f"/api/actions/connector/{cid}",
        json={
            "name": "new-name",
            "config": {"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url},
            "secrets": {"apiKey": UPSTREAM_KEY},
        },
    )
    assert renamed.status_code == 200
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="old-name", messages=MESSAGES)
    assert sdk.chat.completions.create(model="new-name", messages=MESSAGES).choices
    assert admin.delete(f"/api/actions/connector/{cid}").status_code == 204
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="new-name", messages=MESSAGES)
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model=cid, messages=MESSAGES)


def test_two_connectors_with_one_name_must_be_named_by_id(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    first = connector(admin, upstream.chat_completions_url, name="twin")
    connector(admin, upstream.chat_completions_url, name="twin")
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="twin", messages=MESSAGES)
    assert raised.value.body == {
        "message": "2 connectors are named [twin]: name one by its id",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert sdk.chat.completions.create(model=first, messages=MESSAGES).choices


def test_preconfigured_connectors_are_models_too(
    tmp_path: Path, upstream: UpstreamServer, relay_key: str
) -> None:
    declared = {
        "name": "Shared GPT",
        "actionTypeId": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url},
        "secrets": {"apiKey": UPSTREAM_KEY},
    }
    settings = make_settings(tmp_path / "data", **{"actions.preconfigured": {"shared": declared}})
    with (
        serve_in_thread(create_app(settings)) as relay,
        openai.OpenAI(base_url=f"{relay}/v1", api_key=relay_key, max_retries=0) as sdk,
    ):
        assert [m.id for m in sdk.models.list().data] == ["shared"]
        by_id = sdk.chat.completions.create(model="shared", messages=MESSAGES)
        by_name = sdk.chat.completions.create(model="Shared GPT/gpt-4o-mini", messages=MESSAGES)
    assert by_id.choices[0].message.content == EXPECTED
    assert (by_id.model, by_name.model) == ("gpt-4.1", "gpt-4o-mini")


def test_a_stream_asking_for_usage_gets_it_and_the_event_counts_it(
    admin: httpx.Client, sdk: openai.OpenAI, upstream: UpstreamServer
) -> None:
    cid = connector(admin, upstream.chat_completions_url)
    stream = sdk.chat.completions.create(
        model="gpt", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    usage = [chunk.usage for chunk in stream if chunk.usage is not None]
    assert [u.total_tokens for u in usage] == [4 + 7]
    [event] = events(admin, cid, 1)
    assert execution(event)["gen_ai"]["usage"]["total_tokens"] == 4 + 7


def test_the_azure_route_takes_its_deployment_from_the_path_without_kbn_xsrf(
    admin: httpx.Client, relay: str, upstream: UpstreamServer, relay_key: str
) -> None:
    connector(admin, upstream.chat_completions_url, name="team-gpt")
    body = {"messages": MESSAGES, "model": "ignored-by-azure-clients"}
    with httpx.Client(base_url=relay, headers={"api-key": relay_key}) as raw:
        answered = raw.post("/openai/deployments/team-gpt/chat/completions", json=body)
        unknown = raw.post("/openai/deployments/nope/chat/completions?api-version=1", json=body)
    assert answered.status_code == 200
    assert answered.json()["choices"][0]["message"]["content"] == EXPECTED
    assert upstream.last_request.json == {"messages": MESSAGES, "model": "gpt-4.1"}
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"


def test_the_event_stream_is_the_providers_bytes_unchanged(
    admin: httpx.Client, relay: str, upstream: UpstreamServer, relay_key: str
) -> None:
    connector(admin, upstream.chat_completions_url)
    body = {"model": "gpt", "messages": MESSAGES, "stream": True}
    with (
        httpx.Client(base_url=relay, headers={"authorization": f"Bearer {relay_key}"}) as raw,
        raw.stream("POST", "/v1/chat/completions", json=body) as relayed,
    ):
        text = relayed.read().decode()
        content_type = relayed.headers["content-type"]
    with httpx.Client(base_url=upstream.base_url) as direct:
        sent = upstream.last_request
        # what the caller would have got without llmrelay: no stream_options of llmrelay's
        unasked = {k: v for k, v in json.loads(sent.body).items() if k != "stream_options"}
        again = direct.post(
            sent.path, json=unasked, headers={"authorization": sent.headers["authorization"]}
        )
    assert content_type.startswith("text/event-stream")
    # the same events but for the ids and creation times, which the upstream makes anew
    assert without_ids(text) == without_ids(again.text)
    assert text.endswith("data: [DONE]\n\n")

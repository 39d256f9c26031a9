"""The test upstream server behaves like the OpenAI / Azure OpenAI endpoints the connector calls.

Every test talks real HTTP over loopback, as llmrelay will, so a broken fixture server shows up
here rather than as a puzzling failure in a relay test.
"""

from __future__ import annotations

import itertools
import json
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.upstream import (
    CutStream,
    Fail,
    Respond,
    Slow,
    StreamDelay,
    UpstreamServer,
    answer_text,
    usage_for,
)

CHAT = "/v1/chat/completions"
AUTH = {"Authorization": "Bearer sk-test"}
HELLO = {"messages": [{"role": "user", "content": "Say hello"}]}


@pytest.fixture(scope="module")
def server() -> Iterator[UpstreamServer]:
    with UpstreamServer() as upstream:
        yield upstream


@pytest.fixture
def upstream(server: UpstreamServer) -> UpstreamServer:
    server.reset()
    return server


@pytest.fixture(scope="module")
def client(server: UpstreamServer) -> Iterator[httpx.Client]:
    """Authenticated, on the shared server; one per module since building a client costs ~30 ms."""
    with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=5) as http:
        yield http


@pytest.fixture(scope="module")
def bare() -> Iterator[httpx.Client]:
    """No base URL, no credentials: for other servers and for refused requests."""
    with httpx.Client(timeout=5) as http:
        yield http


def eventually(condition: Callable[[], bool], timeout_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def events_of(raw: bytes) -> list[bytes]:
    """Split an SSE body into its ``data:`` payloads, checking the framing on the way."""
    assert raw.endswith(b"\n\n")
    frames = raw[:-2].split(b"\n\n")
    assert all(frame.startswith(b"data: ") for frame in frames)
    return [frame.removeprefix(b"data: ") for frame in frames]


def test_answer_is_a_chat_completion_with_deterministic_content_and_usage(
    client: httpx.Client,
) -> None:
    messages = [
        {"role": "system", "content": "You are  terse."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [{"type": "text", "text": "tell me\n a joke"}]},
    ]
    response = client.post(CHAT, json={"messages": messages, "model": "gpt-4o-mini"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "gpt-4o-mini"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! You said: tell me a joke"},
            "finish_reason": "stop",
        }
    ]
    # prompt: 3 + 2 + 2 + 4 words; completion: 7 words.
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert answer_text(messages) == "Hello! You said: tell me a joke"
    assert usage_for(messages) == body["usage"]


def test_model_defaults_and_ids_count_up(client: httpx.Client) -> None:
    first = client.post(CHAT, json=HELLO).json()
    second = client.post(CHAT, json=HELLO).json()

    assert first["model"] == "gpt-4.1"
    assert int(second["id"].removeprefix("chatcmpl-")) == int(first["id"][9:]) + 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "You didn't provide an API key"),
        ({"Authorization": "Bearer sk-wrong-secret-key"}, "Incorrect API key provided: sk-*"),
        ({"api-key": "sk-test"}, "You didn't provide an API key"),
    ],
)
def test_openai_route_refuses_a_missing_or_wrong_bearer_key(
    upstream: UpstreamServer, bare: httpx.Client, headers: dict[str, str], expected: str
) -> None:
    response = bare.post(upstream.chat_completions_url, json=HELLO, headers=headers)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["message"].startswith(expected)
    assert "sk-wrong-secret-key" not in response.text  # keys are masked, as OpenAI does
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        None,
        "invalid_api_key",
    )


def test_azure_route_uses_the_api_key_header_and_answers_as_the_deployment(
    upstream: UpstreamServer, bare: httpx.Client
) -> None:
    url = upstream.azure_url("my-gpt4o", "2024-10-21")

    accepted = bare.post(url, json=HELLO, headers={"api-key": "sk-test"})
    bearer = bare.post(url, json=HELLO, headers=AUTH)
    no_version = bare.post(url.partition("?")[0], json=HELLO, headers={"api-key": "sk-test"})

    assert accepted.status_code == 200
    assert accepted.json()["model"] == "my-gpt4o"
    assert bearer.status_code == 401
    assert bearer.json()["error"]["code"] == "invalid_api_key"
    assert no_version.status_code == 404
    assert no_version.json() == {"error": {"code": "404", "message": "Resource not found"}}
    assert upstream.requests[0].query == {"api-version": "2024-10-21"}


def test_without_an_api_key_every_request_is_accepted(bare: httpx.Client) -> None:
    with UpstreamServer(api_key=None) as upstream:
        response = bare.post(upstream.chat_completions_url, json=HELLO)
    assert response.status_code == 200


def test_stream_is_sse_framed_one_word_per_chunk_without_usage(client: httpx.Client) -> None:
    response = client.post(CHAT, json={**HELLO, "stream": True})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    *payloads, done = events_of(response.content)
    assert done == b"[DONE]"
    chunks = [json.loads(payload) for payload in payloads]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert all("usage" not in c for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert [d["content"] for d in deltas[1:-1]] == ["Hello! ", "You ", "said: ", "Say ", "hello"]
    assert deltas[-1] == {}
    assert [c["choices"][0]["finish_reason"] for c in chunks][-2:] == [None, "stop"]
    assert "".join(d["content"] for d in deltas[:-1]) == answer_text(HELLO["messages"])


def test_stream_ends_with_a_usage_chunk_when_include_usage_is_asked(client: httpx.Client) -> None:
    body = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}

    *payloads, done = events_of(client.post(CHAT, json=body).content)

    chunks = [json.loads(payload) for payload in payloads]
    assert done == b"[DONE]"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(c["usage"] is None for c in chunks[:-1])


def test_stream_delay_sends_each_event_as_it_is_produced(
    upstream: UpstreamServer, client: httpx.Client
) -> None:
    upstream.queue(StreamDelay(0.02))
    arrivals: list[tuple[float, bytes]] = []

    with client.stream("POST", CHAT, json={**HELLO, "stream": True}) as response:
        arrivals.extend((time.monotonic(), chunk) for chunk in response.iter_raw())

    assert len(arrivals) == 8  # role, 5 words, stop, [DONE]: one body chunk each
    assert all(chunk.startswith(b"data: ") for _, chunk in arrivals)
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.01, gaps  # not buffered: each event came about 20 ms after the last


def test_malformed_or_incomplete_bodies_get_openai_400s(client: httpx.Client) -> None:
    broken = client.post(CHAT, content=b"{not json", headers={"content-type": "application/json"})
    missing = client.post(CHAT, json={"model": "gpt-4.1"})

    assert broken.status_code == 400
    assert broken.json()["error"]["message"].startswith("We could not parse the JSON body")
    assert missing.status_code == 400
    assert missing.json()["error"] == {
        "message": "Missing required parameter: 'messages'.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "missing_required_parameter",
    }


def test_strict_server_refuses_fields_it_does_not_know(bare: httpx.Client) -> None:
    body = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}
    with UpstreamServer(reject_unknown_fields=True) as upstream:
        refused = bare.post(upstream.chat_completions_url, json=body, headers=AUTH)
        plain = bare.post(upstream.chat_completions_url, json={**HELLO, "model": "x"}, headers=AUTH)

    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "Unrecognized request argument supplied: stream_options"
    )
    assert plain.status_code == 200


def test_fail_without_a_body_sends_an_openai_error_with_the_reason_phrase(
    upstream: UpstreamServer, client: httpx.Client
) -> None:
    upstream.queue(Fail(500))

    response = client.post(CHAT, json=HELLO)

    assert response.status_code == 500
    assert response.json()["error"]["message"] == "Internal Server Error"


def test_fail_sends_the_given_body_and_headers(
    upstream: UpstreamServer, client: httpx.Client
) -> None:
    bad_model = {
        "error": {
            "message": "The model `bad model` does not exist",
            "type": "invalid_request_error",
        }
    }
    upstream.queue(Fail(422, bad_model), Fail.rate_limited(7), Fail(400, '{"error": "lm studio"}'))

    unprocessable = client.post(CHAT, json=HELLO)
    limited = client.post(CHAT, json=HELLO)
    string_body = client.post(CHAT, json=HELLO)

    assert (unprocessable.status_code, unprocessable.json()) == (422, bad_model)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert (string_body.status_code, string_body.text) == (400, '{"error": "lm studio"}')


def test_behaviours_are_used_once_each_in_order_and_reset_forgets_them(
    upstream: UpstreamServer, client: httpx.Client
) -> None:
    upstream.queue(Fail(503), Respond({"choices": []}))

    statuses = [client.post(CHAT, json=HELLO).status_code for _ in range(3)]
    upstream.queue(Fail(500))
    upstream.reset()

    assert statuses == [503, 200, 200]
    assert client.post(CHAT, json=HELLO).json()["object"] == "chat.completion"
    assert len(upstream.requests) == 1


def test_respond_sends_exactly_the_given_json(
    upstream: UpstreamServer, client: httpx.Client
) -> None:
    odd = {"id": "x", "choices": [{"message": {"content": "hi"}}], "usage": {"total_tokens": "?"}}
    upstream.queue(Respond(odd, status=201, headers={"x-extra": "1"}))

    response = client.post(CHAT, json=HELLO)

    assert (response.status_code, response.json()) == (201, odd)
    assert response.headers["x-extra"] == "1"


def test_slow_answers_late_and_a_client_giving_up_counts_as_a_disconnect(
    upstream: UpstreamServer, client: httpx.Client
) -> None:
    upstream.queue(Slow(0.1), Slow(5))
    started = time.monotonic()

    assert client.post(CHAT, json=HELLO).status_code == 200
    assert time.monotonic() - started >= 0.1
    with pytest.raises(httpx.ReadTimeout):
        client.post(CHAT, json=HELLO, timeout=0.05)
    assert upstream.wait_for_disconnects(1, timeout_s=2)


def test_cut_stream_sends_some_events_then_breaks_the_connection(
    upstream: UpstreamServer, client: httpx.Client
) -> None:
    upstream.queue(CutStream(after_events=2))
    received: list[bytes] = []

    with (
        pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"),
        client.stream("POST", CHAT, json={**HELLO, "stream": True}) as response,
    ):
        received.extend(response.iter_raw())

    assert response.status_code == 200
    assert len(received) == 2
    assert b"[DONE]" not in b"".join(received)
    assert upstream.disconnects == 0  # the server cut it; the client did not leave


def test_cut_stream_on_a_plain_request_closes_without_a_response(
    upstream: UpstreamServer, client: httpx.Client
) -> None:
    upstream.queue(CutStream(after_events=3))

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        client.post(CHAT, json=HELLO)
    assert client.post(CHAT, json=HELLO).status_code == 200  # a new connection works


async def test_a_client_leaving_mid_stream_is_counted_as_a_disconnect() -> None:
    async with UpstreamServer() as upstream, httpx.AsyncClient(headers=AUTH) as http:
        upstream.queue(StreamDelay(0.5))
        body = {**HELLO, "stream": True}
        async with http.stream("POST", upstream.chat_completions_url, json=body) as response:
            async for chunk in response.aiter_raw():
                assert b'"role":"assistant"' in chunk
                break
        assert await upstream.wait_for_disconnects_async(1, timeout_s=2)
        assert upstream.disconnects == 1


def test_every_request_is_recorded(upstream: UpstreamServer, client: httpx.Client) -> None:
    client.post(f"{CHAT}?trace=1", json=HELLO, headers={"X-Custom": "yes"})
    client.post(CHAT, content=b"oops")
    client.get("/v1/models")

    first, broken, models = upstream.requests
    assert (first.method, first.path, first.query) == ("POST", CHAT, {"trace": "1"})
    assert first.headers["x-custom"] == "yes"
    assert first.headers["authorization"] == "Bearer sk-test"
    assert json.loads(first.body) == HELLO == first.json
    assert (broken.body, broken.json) == (b"oops", None)
    assert (models.method, models.path, models.body) == ("GET", "/v1/models", b"")
    assert upstream.last_request == models


def test_models_are_listed_and_unknown_routes_are_404(client: httpx.Client) -> None:
    models = client.get("/v1/models")
    unknown = client.post("/v1/embeddings", json={})

    assert models.status_code == 200
    assert [m["id"] for m in models.json()["data"]] == ["gpt-4.1", "gpt-4o-mini"]
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "Invalid URL (POST /v1/embeddings)"


def test_servers_are_independent_and_stop_promptly_with_a_slow_request_in_flight(
    bare: httpx.Client,
) -> None:
    with UpstreamServer() as one, UpstreamServer() as two:
        one.queue(Slow(30))
        answers: list[int] = []
        thread = threading.Thread(
            target=lambda: answers.append(
                httpx.post(one.chat_completions_url, json=HELLO, headers=AUTH).status_code
            )
        )
        thread.start()
        bare.post(two.chat_completions_url, json=HELLO, headers=AUTH)
        assert eventually(lambda: len(one.requests) == 1)
        assert one.port != two.port
        assert len(two.requests) == 1
        started = time.monotonic()
    thread.join(timeout=5)
    assert time.monotonic() - started < 2
    assert answers == [200]  # stopping cut the sleep short and the answer still went out


def test_standalone_process_prints_its_url_and_answers(bare: httpx.Client) -> None:
    script = Path(__file__).with_name("upstream.py")
    with subprocess.Popen(
        [sys.executable, str(script), "--port", "0"], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 10)
            assert ready, "the upstream process did not report its address"
            line = process.stdout.readline().strip()
            assert line.startswith("listening on http://127.0.0.1:")
            base_url = line.removeprefix("listening on ")
            response = bare.post(f"{base_url}{CHAT}", json=HELLO, headers=AUTH)
            refused = bare.post(f"{base_url}{CHAT}", json=HELLO)
        finally:
            process.terminate()
            process.wait(timeout=5)

    assert response.json()["choices"][0]["message"]["content"] == "Hello! You said: Say hello"
    assert refused.status_code == 401

"""``_execute`` is answered outside Starlette's middleware (``RelayedRoutes``): the same guards,
the same errors and the same answers as every other API route."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.actions_client import ActionsClient
from llmrelay.app import create_app
from llmrelay.settings import Settings
from tests.api.conftest import create_api_key, create_connector
from tests.conftest import (
    ADMIN_USERNAME,
    TEST_ADMIN_PASSWORD,
    api_client,
    http_client,
    make_settings,
)
from tests.upstream import UpstreamServer

RUN = {
    "params": {
        "subAction": "run",
        "subActionParams": {"body": '{"messages":[{"role":"user","content":"Hello world"}]}'},
    }
}
RUN_BYTES = json.dumps(RUN).encode()


@pytest.fixture
async def connector_id(client: httpx.AsyncClient, upstream: UpstreamServer) -> str:
    return await create_connector(client, upstream.chat_completions_url)


def execute_path(connector_id: str) -> str:
    return f"/api/actions/connector/{connector_id}/_execute"


async def test_an_execution_answers_the_providers_result(
    client: httpx.AsyncClient, connector_id: str
) -> None:
    response = await client.post(execute_path(connector_id), json=RUN)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["status"] == "ok"
    assert answer["data"]["choices"][0]["message"]["content"] == "Hello! You said: Hello world"


async def test_without_kbn_xsrf_it_is_refused_before_anything_runs(
    client: httpx.AsyncClient, connector_id: str, upstream: UpstreamServer
) -> None:
    request = client.build_request("POST", execute_path(connector_id), json=RUN)
    del request.headers["kbn-xsrf"]
    refused = await client.send(request)
    assert refused.status_code == 400
    assert refused.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Request must contain a kbn-xsrf header.",
    }
    assert upstream.requests == []


async def test_without_credentials_it_is_a_401_with_the_challenge(
    anonymous_client: httpx.AsyncClient, client: httpx.AsyncClient, connector_id: str
) -> None:
    refused = await anonymous_client.post(execute_path(connector_id), json=RUN)
    assert refused.status_code == 401
    assert refused.headers.get_list("www-authenticate") == [
        'Basic realm="llmrelay", charset="UTF-8"',
        "ApiKey",
    ]


async def test_bodies_over_the_limit_are_a_413_declared_or_chunked(
    client: httpx.AsyncClient, connector_id: str, upstream: UpstreamServer
) -> None:
    declared = await client.post(execute_path(connector_id), content=b"x" * 1_048_577)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(300):
            yield b"a" * 4096

    chunked = await client.post(execute_path(connector_id), content=chunks())
    message = "Payload content length greater than maximum allowed: 1048576"
    assert (declared.status_code, declared.json()["message"]) == (413, message)
    assert (chunked.status_code, chunked.json()["message"]) == (413, message)
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Invalid request payload JSON format"),
        (b'{"params": {}, "other": 1}', "[request body.other]: definition for this key is missing"),
    ],
)
async def test_bad_bodies_are_a_400_in_kibanas_words(
    client: httpx.AsyncClient, connector_id: str, body: bytes, message: str
) -> None:
    response = await client.post(
        execute_path(connector_id), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == message


async def test_an_unknown_connector_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.post(execute_path("no-such-connector"), json=RUN)
    assert response.status_code == 404
    assert response.json()["message"] == "Saved object [action/no-such-connector] not found"


async def test_a_bug_is_a_bare_500_with_the_traceback_in_the_log_only(
    client: httpx.AsyncClient,
    connector_id: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the secret internals")

    monkeypatch.setattr(ActionsClient, "execute", broken)
    with caplog.at_level(logging.ERROR, logger="llmrelay.api"):
        response = await client.post(execute_path(connector_id), json=RUN)
    assert response.status_code == 500
    assert response.json() == {
        "statusCode": 500,
        "error": "Internal Server Error",
        "message": "An internal server error occurred.",
    }
    assert "the secret internals" not in response.text
    assert f"unhandled error on POST {execute_path(connector_id)}" in caplog.text
    assert "RuntimeError: the secret internals" in caplog.text


async def test_with_cors_on_an_execution_carries_the_cors_headers(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    """CORS headers come from Starlette's middleware: with CORS on, ``_execute`` goes that way."""
    settings = make_settings(
        tmp_path / "data",
        **{"server.cors.enabled": True, "server.cors.allow_origin": ["https://app.example"]},
    )
    async with api_client(settings) as client:
        connector_id = await create_connector(client, upstream.chat_completions_url)
        response = await client.post(
            execute_path(connector_id), json=RUN, headers={"origin": "https://app.example"}
        )
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["access-control-allow-origin"] == "https://app.example"


async def test_other_methods_on_the_path_take_starlettes_way(
    app: Starlette, client: httpx.AsyncClient, connector_id: str
) -> None:
    response = await client.get(execute_path(connector_id))
    assert response.status_code == 404  # hapi answers 404 for a method a path does not take


async def test_the_chat_completions_route_authenticates_its_callers_itself(
    client: httpx.AsyncClient, connector_id: str
) -> None:
    """The admin's Basic credentials open ``_execute``, but the OpenAI-compatible route takes
    only llmrelay API keys, and refuses in OpenAI's shape."""
    chat = {"model": connector_id, "messages": [{"role": "user", "content": "Hello world"}]}
    refused = await client.post("/v1/chat/completions", json=chat)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    created = await create_api_key(client)
    key = {"api-key": str(created["encoded"])}  # the client's Basic header is sent too
    answered = await client.post("/v1/chat/completions", json=chat, headers=key)
    assert answered.status_code == 200
    assert answered.json()["choices"][0]["message"]["content"] == "Hello! You said: Hello world"
    assert "content-security-policy" not in answered.headers  # an API, not a page


ADMIN_HEADER = (
    "Basic " + base64.b64encode(f"{ADMIN_USERNAME}:{TEST_ADMIN_PASSWORD}".encode()).decode()
)
TOO_LARGE = b"x" * 2_000_000  # over server.max_payload_bytes (1 MiB)
REFUSALS: dict[str, tuple[dict[str, str], bytes]] = {
    "no credentials, no kbn-xsrf": ({}, RUN_BYTES),
    "no credentials, a body too large": ({"kbn-xsrf": "1"}, TOO_LARGE),
    "no credentials": ({"kbn-xsrf": "1"}, RUN_BYTES),
    "wrong password, no kbn-xsrf": ({"authorization": "Basic ZWxhc3RpYzpub3Bl"}, RUN_BYTES),
    "admin, no kbn-xsrf": ({"authorization": ADMIN_HEADER}, RUN_BYTES),
    "admin, a body too large": ({"authorization": ADMIN_HEADER, "kbn-xsrf": "1"}, TOO_LARGE),
}


async def refusals(settings: Settings, path: str) -> tuple[bool, dict[str, tuple[int, str]]]:
    """Whether the app answers ``path`` before its middleware, and what it answers each case."""
    application = create_app(settings)
    answers = {}
    async with (
        application.router.lifespan_context(application),
        http_client(application, auth=None) as raw,
    ):
        for case, (headers, body) in REFUSALS.items():
            sent = {"content-type": "application/json", **headers}
            raw.headers.pop("kbn-xsrf", None)
            response = await raw.post(path, content=body, headers=sent)
            answers[case] = (response.status_code, response.text)
    return application.relayed is not None, answers


@pytest.mark.parametrize("path", [execute_path("c"), "/v1/chat/completions"])
async def test_both_pipelines_refuse_alike(tmp_path: Path, path: str) -> None:
    """The relayed pipeline (no CORS) and Starlette's (CORS on) run one list of guards in one
    order (credentials first: Kibana checks them before ``kbn-xsrf`` and the body size), so a
    refused request gets the same answer either way."""
    cors = {"server.cors.enabled": True, "server.cors.allow_origin": ["https://app.example"]}
    relayed, first = await refusals(make_settings(tmp_path / "a"), path)
    middleware, second = await refusals(make_settings(tmp_path / "b", **cors), path)
    assert (relayed, middleware) == (True, False)
    assert first == second
    if path.startswith("/api/"):
        assert first["no credentials, no kbn-xsrf"][0] == 401
        assert first["admin, no kbn-xsrf"][0] == 400
        assert first["admin, a body too large"][0] == 413

"""Input no route may answer with a bare 500: deep JSON on every JSON route, lone surrogates,
pages and dates beyond what storage holds, URLs that cannot be sent. Each is a 4xx naming what
is wrong, in the route's own shape, with nothing half-written."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from tests.api.conftest import api_key_header, create_api_key, create_connector
from tests.api.test_event_recording import events_of
from tests.conftest import ADMIN_AUTH
from tests.upstream import UpstreamServer

DEEP = b"[" * 50_000 + b"]" * 50_000
TOO_DEEP = "nested deeper than 1024 levels"
SURROGATE = "contains a lone surrogate (an escape such as \\ud800 with no pair)"
OPENAI_ROUTES = ("/v1/", "/openai/")


def unchecked_client(app: Starlette, headers: dict[str, str]) -> httpx.AsyncClient:
    """The superuser's client that hands back a 500 rather than raising the app's error, so a
    sweep reports every route at once."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://llmrelay.test",
        headers={"kbn-xsrf": "true", **headers},
        auth=ADMIN_AUTH,
    )


def body_routes(app: Starlette) -> list[tuple[str, str]]:
    """Every (method, path) of the route table that could read a body, path parameters filled."""
    found = []
    for route in app.routes:
        if not isinstance(route, Route) or route.methods is None:
            continue
        path = route.path
        for name in route.param_convertors:
            path = path.replace(f"{{{name}:path}}", "no-such-thing")
            path = path.replace(f"{{{name}}}", "no-such-thing")
        for method in sorted(route.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            found.append((method, path))
    return found


async def test_json_nested_50000_deep_is_a_400_on_every_json_route(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    key = api_key_header(await create_api_key(client))
    json_routes = []
    async with unchecked_client(app, {"api-key": key["authorization"].split(" ", 1)[1]}) as http:
        for method, path in body_routes(app):
            headers = {"content-type": "application/json"}
            broken = await http.request(method, path, content=b"{", headers=headers)
            deep = await http.request(method, path, content=DEEP, headers=headers)
            assert deep.status_code < 500, (method, path, deep.text)
            if broken.status_code != 400 or "JSON" not in broken.text:
                continue  # the route reads no JSON body (a form, a logout, a delete)
            json_routes.append(path)
            assert deep.status_code == 400, (method, path, deep.text)
            if path.startswith(OPENAI_ROUTES):
                error = deep.json()["error"]
                assert error["type"] == "invalid_request_error"
                assert TOO_DEEP in error["message"]
            else:
                assert deep.json() == {
                    "statusCode": 400,
                    "error": "Bad Request",
                    "message": f"Invalid request payload JSON format: JSON {TOO_DEEP}",
                }
    assert len(json_routes) >= 12, json_routes  # the sweep found the JSON routes
    assert {"/v1/chat/completions", "/api/actions/connector"} <= set(json_routes)


def raw_connector(name: str, url: str, **config: str) -> bytes:
    """A create body as the caller wrote it: ``\\ud800`` escapes stay escapes."""
    extra = "".join(f',"{k}":{v}' for k, v in config.items())
    return (
        f'{{"name":"{name}","connector_type_id":".gen-ai","config":{{"apiProvider":"OpenAI",'
        f'"apiUrl":"{url}"{extra}}},"secrets":{{"apiKey":"sk-x"}}}}'
    ).encode()


@pytest.mark.parametrize(
    ("name", "config", "field"),
    [
        ("\\ud800", {}, "name"),
        ("ok\\udfffname", {}, "name"),
        ("fine", {"headers": '{"X-Team":"\\udc00"}'}, "config.headers.X-Team"),
    ],
)
async def test_a_lone_surrogate_in_a_connector_is_a_400_naming_the_field(
    stored_app: tuple[Starlette, httpx.AsyncClient],
    upstream: UpstreamServer,
    name: str,
    config: dict[str, str],
    field: str,
) -> None:
    _, client = stored_app
    body = raw_connector(name, upstream.chat_completions_url, **config)
    headers = {"content-type": "application/json"}
    created = await client.post("/api/actions/connector", content=body, headers=headers)
    assert created.status_code == 400, created.text
    assert (
        created.json()["message"]
        == f"[request body.{field}]: {SURROGATE}, which is not valid Unicode"
    )
    cid = await create_connector(client, upstream.chat_completions_url, name="kept")
    update = body.replace(b'"connector_type_id":".gen-ai",', b"")
    updated = await client.put(f"/api/actions/connector/{cid}", content=update, headers=headers)
    assert updated.status_code == 400, updated.text
    assert f"[request body.{field}]" in updated.json()["message"]
    listed = (await client.get("/api/actions/connectors")).json()
    assert [c["name"] for c in listed] == ["kept"]


async def test_a_lone_surrogate_in_a_security_body_is_a_400(
    stored_app: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = stored_app
    response = await client.post(
        "/api/security/api_key",
        content=b'{"name":"key \\ud800"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"[request body.name]: {SURROGATE}")


CHAT_WITH_SURROGATE = b'{"messages":[{"role":"user","content":"hi \\\\ud800"}]}'
"""A run body (a JSON string inside the execute body) whose chat content escapes a surrogate."""


@pytest.mark.parametrize(
    "params",
    [
        b'{"subAction":"run","subActionParams":{"body":"'
        + CHAT_WITH_SURROGATE.replace(b'"', b'\\"')
        + b'"}}',
        b'{"subAction":"stream","subActionParams":{"stream":true,"body":"'
        + CHAT_WITH_SURROGATE.replace(b'"', b'\\"')
        + b'"}}',
        b'{"subAction":"invokeAI","subActionParams":{"messages":[{"role":"user","content":"\\ud800"}]}}',
        b'{"subAction":"run","subActionParams":{"body":"not json \\ud800"}}',
    ],
    ids=["run", "stream", "invokeAI", "run, not JSON"],
)
async def test_a_lone_surrogate_in_chat_content_is_refused_and_recorded(
    stored_app: tuple[Starlette, httpx.AsyncClient], upstream: UpstreamServer, params: bytes
) -> None:
    app, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    response = await client.post(
        f"/api/actions/connector/{cid}/_execute",
        content=b'{"params":' + params + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["status"], result["errorSource"]) == ("error", "user")
    expected = (
        f"Request validation failed (Error: [body]: text {SURROGATE}, which is not valid Unicode)"
    )
    assert result["service_message"] == expected
    assert upstream.requests == []  # refused before sending, as OpenAI would refuse it
    [event] = await events_of(app, cid)
    assert event.outcome == "failure"
    assert expected in (event.error_message or "")


async def test_a_lone_surrogate_on_the_openai_api_is_a_400_in_openai_shape(
    stored_app: tuple[Starlette, httpx.AsyncClient], upstream: UpstreamServer
) -> None:
    app, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    key = api_key_header(await create_api_key(client))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://llmrelay.test", headers=key
    ) as sdk:
        response = await sdk.post(
            "/v1/chat/completions",
            content=b'{"model":"%s","messages":[{"role":"user","content":"\\ud800"}]}'
            % cid.encode(),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", None)
    assert SURROGATE in error["message"]
    assert upstream.requests == []
    [event] = await events_of(app, cid)
    assert event.outcome == "failure"
    assert SURROGATE in (event.error_message or "")


@pytest.mark.parametrize(
    "path", ["/api/event_log/connector/{cid}/_find", "/api/security/audit/_find"]
)
@pytest.mark.parametrize("name", ["page", "per_page"])
async def test_a_page_beyond_storage_is_a_400(
    stored_app: tuple[Starlette, httpx.AsyncClient],
    upstream: UpstreamServer,
    path: str,
    name: str,
) -> None:
    _, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    response = await client.get(path.format(cid=cid), params={name: str(10**20)})
    assert response.status_code == 400, response.text
    assert response.json()["message"] in (
        f"[{name}]: must be at most 1000000000; got [{10**20}]",
        "[page] must be ≥ 1 and [per_page] between 1 and 10000",  # the audit's own bound
        f"[per_page]: must be between 1 and 1000; got [{10**20}]",
    )
    largest = await client.get(path.format(cid=cid), params={"page": "1000000000"})
    assert largest.status_code == 200, largest.text
    assert largest.json()["data"] == []


@pytest.mark.parametrize(
    "path", ["/internal/usage", "/internal/usage/connector/{cid}", "/app/usage"]
)
@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"start": "0001-01-01"}, "[start]: must be 1970-01-01 or later; got [0001-01-01]"),
        (
            {"start": "1969-12-31T23:59:59Z", "end": "2026-01-01"},
            "[start]: must be 1970-01-01 or later; got [1969-12-31T23:59:59Z]",
        ),
        (
            {"start": "0001-01-01", "end": "0001-01-02"},
            "[end]: must be 1970-01-01 or later; got [0001-01-02]",
        ),
    ],
)
async def test_a_date_before_1970_on_the_usage_routes_is_a_400(
    stored_app: tuple[Starlette, httpx.AsyncClient],
    upstream: UpstreamServer,
    path: str,
    params: dict[str, str],
    says: str,
) -> None:
    _, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    response = await client.get(path.format(cid=cid), params=params)
    assert response.status_code == 400, response.text
    assert says in response.text
    earliest = await client.get(path.format(cid=cid), params={"start": "1970-01-01"})
    assert earliest.status_code == 200, earliest.text


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (
            f"https://{'a' * 64}.example.com/v1",
            "the host name of apiUrl has a label that is empty or longer than 63 characters",
        ),
        (
            f"https://{'.'.join(['b' * 63] * 4)}.com/v1",
            "the host name of apiUrl is longer than 253 characters",
        ),
        (
            "https://exa..mple.com/v1",
            "the host name of apiUrl has a label that is empty or longer than 63 characters",
        ),
        ("https://example.com/v1 chat", "apiUrl contains a space"),
        ("https://example.com/v1\r\nX-Injected: 1", "apiUrl contains a carriage return (CR)"),
        ("https://example.com/v1\nx", "apiUrl contains a line feed (LF)"),
        ("https://example.com/v1\x00", "apiUrl contains a NUL character"),
        ("https://example.com/\tv1", "apiUrl contains a tab"),
    ],
    ids=["label > 63", "host > 253", "empty label", "space", "CR LF", "LF", "NUL", "tab"],
)
async def test_an_api_url_that_cannot_be_sent_is_refused_when_saved(
    stored_app: tuple[Starlette, httpx.AsyncClient],
    upstream: UpstreamServer,
    url: str,
    says: str,
) -> None:
    _, client = stored_app
    expected = (
        "error validating action type config: Error configuring OpenAI action: Error: "
        f"URL Error: Invalid URL: {says}"
    )
    body = {
        "name": "bad url",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": url},
        "secrets": {"apiKey": "sk-x"},
    }
    created = await client.post("/api/actions/connector", json=body)
    assert created.status_code == 400, created.text
    assert created.json()["message"] == expected
    cid = await create_connector(client, upstream.chat_completions_url, name="kept")
    update = {"name": "kept", "config": body["config"], "secrets": body["secrets"]}
    updated = await client.put(f"/api/actions/connector/{cid}", json=update)
    assert updated.status_code == 400, updated.text
    assert updated.json()["message"] == expected
    [kept] = (await client.get("/api/actions/connectors")).json()
    assert kept["config"]["apiUrl"] == upstream.chat_completions_url


async def test_a_lone_surrogate_as_the_sub_action_is_a_400_and_loses_no_other_event(
    stored_app: tuple[Starlette, httpx.AsyncClient], upstream: UpstreamServer
) -> None:
    """The name went into the event and the audit log: its batch failed, other events with it."""
    app, client = stored_app
    cid = await create_connector(client, upstream.chat_completions_url)
    run = {"params": {"subAction": "run", "subActionParams": {"body": "{}"}}}
    await client.post(f"/api/actions/connector/{cid}/_execute", json=run)
    refused = await client.post(
        f"/api/actions/connector/{cid}/_execute",
        content=b'{"params":{"subAction":"r\\ud800n"}}',
        headers={"content-type": "application/json"},
    )
    assert refused.status_code == 400
    assert (
        refused.json()["message"]
        == f"[request body.params.subAction]: {SURROGATE}, which is not valid Unicode"
    )
    await client.post(f"/api/actions/connector/{cid}/_execute", json=run)
    assert [e.sub_action for e in await events_of(app, cid)] == ["run", "run"]
    audit = await client.get("/api/security/audit/_find", params={"action": "connector_execute"})
    assert audit.json()["total"] == 2


async def test_a_connector_saved_earlier_with_such_an_api_url_fails_its_runs_cleanly(
    stored_app: tuple[Starlette, httpx.AsyncClient],
) -> None:
    """A row an older llmrelay saved (through the repository, as the API did then): every run
    is a failed execution naming the problem, no longer a 500."""
    app, client = stored_app
    repository = app.state.services.actions._connectors  # what the API wrote through before
    await repository.create(
        id="old-row",
        name="saved before the check",
        connector_type_id=".gen-ai",
        config={"apiProvider": "OpenAI", "apiUrl": f"https://{'a' * 64}.example.com/v1"},
        secrets={"apiKey": "sk-x"},
    )
    run = {"params": {"subAction": "run", "subActionParams": {"body": "{}"}}}
    response = await client.post("/api/actions/connector/old-row/_execute", json=run)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "error"
    assert (
        "the host name of apiUrl has a label that is empty or longer than 63" in result["message"]
    )
    [event] = await events_of(app, "old-row")
    assert event.outcome == "failure"

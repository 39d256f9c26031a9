"""Preconfigured connectors through Kibana's API: listed, runnable, read-only, secrets hidden."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.errors import ConfigurationError
from tests.conftest import UPSTREAM_KEY, api_client, make_settings
from tests.upstream import UpstreamServer


def declared(upstream: UpstreamServer, **extra: object) -> dict[str, object]:
    return {
        "name": "Preconfigured OpenAI",
        "actionTypeId": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url},
        "secrets": {"apiKey": UPSTREAM_KEY},
        **extra,
    }


@pytest.fixture
async def relay(tmp_path: Path, upstream: UpstreamServer) -> AsyncIterator[httpx.AsyncClient]:
    preconfigured = {
        "my-gen-ai": declared(upstream),
        "exposed": {**declared(upstream), "name": "Another", "exposeConfig": True},
    }
    settings = make_settings(tmp_path / "data", **{"actions.preconfigured": preconfigured})
    async with api_client(settings) as client:
        yield client


async def test_get_shows_kibanas_preconfigured_shape(relay: httpx.AsyncClient) -> None:
    assert (await relay.get("/api/actions/connector/my-gen-ai")).json() == {
        "id": "my-gen-ai",
        "name": "Preconfigured OpenAI",
        "connector_type_id": ".gen-ai",
        "is_preconfigured": True,
        "is_deprecated": False,
        "is_system_action": False,
    }
    exposed = (await relay.get("/api/actions/connector/exposed")).json()
    assert exposed["config"]["apiProvider"] == "OpenAI"
    assert "secrets" not in exposed


async def test_listed_with_saved_connectors_sorted_by_name(
    relay: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    saved = {
        "name": "Middle",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url},
        "secrets": {"apiKey": "k"},
    }
    assert (await relay.post("/api/actions/connector", json=saved)).status_code == 200
    listed = (await relay.get("/api/actions/connectors")).json()
    assert [c["name"] for c in listed] == ["Another", "Middle", "Preconfigured OpenAI"]
    assert [c["is_preconfigured"] for c in listed] == [True, False, True]
    assert UPSTREAM_KEY not in str(listed)


async def test_preconfigured_connectors_run(
    relay: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    body = '{"messages":[{"role":"user","content":"Hello world"}]}'
    response = await relay.post(
        "/api/actions/connector/my-gen-ai/_execute",
        json={"params": {"subAction": "run", "subActionParams": {"body": body}}},
    )
    assert response.json()["status"] == "ok"
    assert upstream.last_request.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        (
            "PUT",
            "/api/actions/connector/my-gen-ai",
            {"name": "x"},
            "Preconfigured action my-gen-ai can not be updated.",
        ),
        (
            "DELETE",
            "/api/actions/connector/my-gen-ai",
            None,
            "Preconfigured action my-gen-ai is not allowed to delete.",
        ),
        (
            "POST",
            "/api/actions/connector/my-gen-ai",
            {"name": "x", "connector_type_id": ".gen-ai", "config": {}, "secrets": {}},
            "This my-gen-ai already exists in a preconfigured action.",
        ),
    ],
)
async def test_preconfigured_connectors_are_read_only(
    relay: httpx.AsyncClient, method: str, path: str, body: object, message: str
) -> None:
    response = await relay.request(method, path, json=body)
    assert response.status_code == 400
    assert response.json()["message"] == message
    assert (await relay.get("/api/actions/connector/my-gen-ai")).status_code == 200


async def test_an_invalid_preconfigured_connector_stops_start_up(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    bad = {"broken": {**declared(upstream), "config": {"apiProvider": "OpenAI"}}}
    app = create_app(make_settings(tmp_path / "data", **{"actions.preconfigured": bad}))
    with pytest.raises(ConfigurationError) as raised:
        async with app.router.lifespan_context(app):
            pass
    assert str(raised.value).startswith(
        'preconfigured connector "broken": error validating action type config: '
    )
    unknown = {"odd": {**declared(upstream), "actionTypeId": ".slack"}}
    app = create_app(make_settings(tmp_path / "data", **{"actions.preconfigured": unknown}))
    with pytest.raises(ConfigurationError, match=r'Action type "\.slack" is not registered\.'):
        async with app.router.lifespan_context(app):
            pass


async def test_disabled_connector_types_are_refused(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    settings = make_settings(tmp_path / "data", **{"actions.enabled_action_types": [".slack"]})
    async with api_client(settings) as client:
        body = {
            "name": "x",
            "connector_type_id": ".gen-ai",
            "config": {"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url},
            "secrets": {"apiKey": "k"},
        }
        response = await client.post("/api/actions/connector", json=body)
        assert response.status_code == 403
        assert response.json()["message"] == (
            'action type ".gen-ai" is not enabled in the Kibana config '
            "xpack.actions.enabledActionTypes"
        )
        types = (await client.get("/api/actions/connector_types")).json()
        assert types[0]["enabled_in_config"] is False

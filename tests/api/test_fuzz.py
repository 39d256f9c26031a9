"""Whatever a client sends, the API answers a clear 4xx (or a result), never a 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmrelay.app import create_app
from tests.conftest import ADMIN_AUTH, make_settings
from tests.strategies import JSON_VALUES

JSON = JSON_VALUES
FIELDS = st.sampled_from(
    ["name", "connector_type_id", "config", "secrets", "params", "subAction", "subActionParams"]
)
BODIES = st.one_of(
    JSON,
    st.dictionaries(FIELDS, JSON, max_size=5),
    st.fixed_dictionaries(
        {"name": st.text(max_size=5), "connector_type_id": st.just(".gen-ai")},
        optional={
            "config": st.dictionaries(st.text(max_size=12), JSON, max_size=4),
            "secrets": JSON,
        },
    ),
    st.fixed_dictionaries(
        {
            "params": st.fixed_dictionaries(
                {"subAction": st.sampled_from(["run", "stream", "invokeAI", "test", "x"])},
                optional={"subActionParams": JSON},
            )
        }
    ),
)
ROUTES = st.sampled_from(
    [
        ("POST", "/api/actions/connector"),
        ("POST", "/api/actions/connector/fuzz-id"),
        ("PUT", "/api/actions/connector/known"),
        ("POST", "/api/actions/connector/known/_execute"),
    ]
)
QUERIES = st.dictionaries(
    st.sampled_from(["start", "end", "outcome", "page", "per_page", "sort", "x"]),
    st.text(max_size=12),
    max_size=4,
)


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]]:
    """One app for all examples, driven from its own loop (hypothesis tests are synchronous)."""
    loop = asyncio.new_event_loop()
    app = create_app(make_settings(Path(tmp_path_factory.mktemp("fuzz")) / "data"))
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://fuzz",
        headers={"kbn-xsrf": "1"},
        auth=ADMIN_AUTH,
    )
    known = {
        "name": "known",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "Other", "apiUrl": "http://127.0.0.1:9/v1", "defaultModel": "m"},
        "secrets": {"apiKey": "k"},
    }
    loop.run_until_complete(client.post("/api/actions/connector/known", json=known))
    yield loop, client
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(lifespan.__aexit__(None, None, None))
    loop.close()


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ROUTES, BODIES)
def test_any_body_gets_an_answer_not_a_crash(
    api: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient],
    route: tuple[str, str],
    body: object,
) -> None:
    loop, client = api
    method, path = route
    response = loop.run_until_complete(client.request(method, path, content=json.dumps(body)))
    assert response.status_code < 500, response.text
    answer = response.json()
    if response.status_code >= 400:
        assert set(answer) == {"statusCode", "error", "message"}
        assert answer["message"]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(QUERIES)
def test_any_event_query_gets_an_answer_not_a_crash(
    api: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient], query: dict[str, str]
) -> None:
    loop, client = api
    response = loop.run_until_complete(
        client.get("/api/event_log/connector/known/_find", params=query)
    )
    assert response.status_code in (200, 400), response.text

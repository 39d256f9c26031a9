"""``GET /api/event_log/connector/{id}/_find``: see what ran and why it failed, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette

from tests.conftest import UPSTREAM_KEY
from tests.upstream import Fail, UpstreamServer

RUN = {
    "params": {
        "subAction": "run",
        "subActionParams": {"body": '{"messages":[{"role":"user","content":"one two"}]}'},
    }
}


async def connector_with_history(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> str:
    created = await client.post(
        "/api/actions/connector",
        json={
            "name": "history",
            "connector_type_id": ".gen-ai",
            "config": {"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url},
            "secrets": {"apiKey": UPSTREAM_KEY},
        },
    )
    cid: str = created.json()["id"]
    for _ in range(3):
        await client.post(f"/api/actions/connector/{cid}/_execute", json=RUN)
    upstream.queue(Fail(500, ""))
    await client.post(f"/api/actions/connector/{cid}/_execute", json=RUN)
    await app.state.services.events.flush()
    return cid


async def test_find_pages_filters_and_sorts(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await connector_with_history(app, client, upstream)
    url = f"/api/event_log/connector/{cid}/_find"
    everything = (await client.get(url)).json()
    assert (everything["total"], everything["page"], everything["per_page"]) == (4, 1, 10)
    newest = everything["data"][0]
    assert newest["event"]["outcome"] == "failure"
    assert "Status code: 500" in newest["error"]["message"]
    assert newest["kibana"]["action"]["id"] == cid

    failures = (await client.get(url, params={"outcome": "failure"})).json()
    assert failures["total"] == 1
    page_two = (await client.get(url, params={"per_page": 3, "page": 2})).json()
    assert (page_two["total"], len(page_two["data"])) == (4, 1)
    oldest_first = (await client.get(url, params={"sort": "@timestamp:asc"})).json()
    assert oldest_first["data"][0]["event"]["outcome"] == "success"
    usage = oldest_first["data"][0]["kibana"]["action"]["execution"]["gen_ai"]["usage"]
    # "one two" is 2 prompt words; "Hello! You said: one two" is 5 completion words
    assert usage == {
        "prompt_tokens": 2,
        "completion_tokens": 5,
        "total_tokens": 7,
        "estimated": False,
    }

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get(url, params={"start": future})).json()["total"] == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "[end]: "),
        ({"sort": "name"}, "[sort]: cannot sort by [name]"),
        ({"per_page": "5000"}, "[per_page]: must be between 1 and 1000; got [5000]"),
        ({"page": "zero"}, "[page]: [zero] is not a whole number"),
        ({"start": "yesterday"}, "[start]: [yesterday] is not an ISO 8601 date and time"),
        ({"outcome": "maybe"}, "[outcome]: must be one of success, failure, unknown; got [maybe]"),
        ({"filter": "x"}, "[filter]: definition for this key is missing"),
    ],
)
async def test_bad_queries_are_400s(
    app: Starlette,
    client: httpx.AsyncClient,
    upstream: UpstreamServer,
    params: dict[str, str],
    message: str,
) -> None:
    cid = await connector_with_history(app, client, upstream)
    response = await client.get(f"/api/event_log/connector/{cid}/_find", params=params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


async def test_unknown_connector_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/event_log/connector/nope/_find")
    assert response.status_code == 404
    assert response.json()["message"] == "Saved object [action/nope] not found"


async def test_an_unescaped_plus_in_a_time_is_understood(
    app: Starlette, client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await connector_with_history(app, client, upstream)
    response = await client.get(
        f"/api/event_log/connector/{cid}/_find?start=2020-01-01T00:00:00+01:00"
    )
    assert response.status_code == 200
    assert response.json()["total"] == 4

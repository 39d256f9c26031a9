"""``/internal/usage``: the dashboard's figures over HTTP, against events written here."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.eventlog.dashboard import PERCENTILE_RELATIVE_ERROR
from tests.components import fresh_postgres_database
from tests.conftest import api_client, make_settings
from tests.usage_history import RANGE, write_history


def close_to(measured: float, exact: float) -> bool:
    return abs(measured / exact - 1) <= PERCENTILE_RELATIVE_ERROR


def check_all_connectors(body: dict[str, object], alpha: str, beta: str) -> None:
    assert body["totals"] == {
        "executions": 5,
        "failures": 1,
        "prompt_tokens": 131,
        "completion_tokens": 66,
        "total_tokens": 197,
        "estimated": 1,
        "unknown_usage": 1,
        "unfinished": 0,
    }
    latency = body["latency"]
    assert isinstance(latency, dict)
    assert close_to(latency["p50_ms"], 200)
    assert close_to(latency["p95_ms"], 1000)
    buckets = body["buckets"]
    assert isinstance(buckets, list)
    assert [b["start"] for b in buckets] == [f"2026-11-30T0{h}:00:00.000Z" for h in range(6)]
    assert [b["total_tokens"] for b in buckets] == [15, 30, 0, 150, 0, 2]
    assert [(b["executions"], b["failures"]) for b in buckets] == [
        (1, 0), (1, 0), (1, 1), (1, 0), (0, 0), (1, 0),
    ]  # fmt: skip
    assert buckets[4]["p50_ms"] is None
    assert close_to(buckets[3]["p95_ms"], 1000)
    assert [(m["model"], m["total_tokens"]) for m in body["models"]] == [  # type: ignore[attr-defined]
        ("gpt-4o", 167),
        ("gpt-4o-mini", 30),
        (None, 0),
    ]
    assert [(c["connector_id"], c["name"], c["total_tokens"]) for c in body["connectors"]] == [  # type: ignore[attr-defined]
        (beta, "Beta", 152),
        (alpha, "Alpha", 45),
    ]
    recent = body["recent"]
    assert isinstance(recent, list)
    assert len(recent) == 5
    assert recent[0]["@timestamp"] == "2026-11-30T05:20:00.000Z"
    assert recent[2]["error"] == {"message": "boom"}


async def test_figures_for_all_connectors_are_exact(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    alpha, beta = await write_history(app, client)
    response = await client.get("/internal/usage", params=RANGE)
    assert response.status_code == 200, response.text
    body = response.json()
    check_all_connectors(body, alpha, beta)
    assert (body["interval"], body["start"], body["end"]) == (
        "1h",
        "2026-11-30T00:30:00.000Z",
        "2026-11-30T05:30:00.000Z",
    )


async def test_figures_for_one_connector(app: Starlette, client: httpx.AsyncClient) -> None:
    alpha, _ = await write_history(app, client)
    body = (await client.get(f"/internal/usage/connector/{alpha}", params=RANGE)).json()
    assert body["connector_name"] == "Alpha"
    assert (body["totals"]["total_tokens"], body["totals"]["executions"]) == (45, 3)
    assert body["totals"]["estimated"] == 1
    assert [c["name"] for c in body["connectors"]] == ["Alpha"]
    assert close_to(body["latency"]["p50_ms"], 100)
    fine = (
        await client.get(
            f"/internal/usage/connector/{alpha}",
            params={"start": "2026-11-30T00:00:00Z", "end": "2026-11-30T03:00:00Z"},
        )
    ).json()
    assert fine["interval"] == "5m"
    assert len(fine["buckets"]) == 36
    assert sum(b["total_tokens"] for b in fine["buckets"]) == 245


@pytest.mark.postgres
async def test_the_same_figures_on_postgresql(tmp_path: Path) -> None:
    async with fresh_postgres_database() as url:
        settings = make_settings(tmp_path / "data", **{"database.url": url})
        async with api_client(settings) as client:
            app = client._transport.app  # type: ignore[attr-defined]
            alpha, beta = await write_history(app, client)
            body = (await client.get("/internal/usage", params=RANGE)).json()
    check_all_connectors(body, alpha, beta)


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        (
            "/internal/usage",
            {"start": "2026-11-30T05:00:00Z", "end": "2026-11-30T01:00:00Z"},
            400,
            "[end]: 2026-11-30T01:00:00+00:00 is not after [start] 2026-11-30T05:00:00+00:00",
        ),
        (
            "/internal/usage",
            {"range": "24h", "interval": "fortnightly"},
            400,
            "[interval]: must be auto or one of 1m, 5m, 10m, 30m, 1h, 3h, 6h, 12h, 1d, 7d; "
            "got [fortnightly]",
        ),
        (
            "/internal/usage",
            {"range": "1y"},
            400,
            "[range]: must be one of 15m, 24h, 7d, 30d or custom; got [1y]",
        ),
        ("/internal/usage/connector/nope", {}, 404, "Saved object [action/nope] not found"),
    ],
)
async def test_bad_input_gets_kibanas_error_shape(
    client: httpx.AsyncClient, path: str, params: dict[str, str], status: int, message: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == status
    assert response.json() == {
        "statusCode": status,
        "error": "Bad Request" if status == 400 else "Not Found",
        "message": message,
    }

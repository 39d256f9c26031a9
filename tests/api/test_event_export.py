"""``GET /api/event_log/connector/{id}/_export``: every event, as NDJSON or CSV, streamed."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette

from llmrelay.eventlog import ExecutionEvent
from llmrelay.eventlog.export import CSV_COLUMNS
from tests.api.conftest import create_connector

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def made(number: int, connector_id: str, *, hours: int, outcome: str = "success") -> ExecutionEvent:
    moment = T0 + timedelta(hours=hours)
    return ExecutionEvent(
        id=f"00000000-0000-0000-0000-{number:012d}",
        timestamp=moment,
        end=moment,
        duration_ns=5_000_000,
        outcome=outcome,  # type: ignore[arg-type]
        connector_id=connector_id,
        connector_name='exported, with "quotes"',
        connector_type_id=".gen-ai",
        sub_action="stream",
        source="http_request",
        message="action executed",
        provider="Other",
        model="m",
        error_message="boom\nsecond line" if outcome == "failure" else None,
        prompt_tokens=10,
        completion_tokens=None if outcome == "failure" else 5,
        total_tokens=None if outcome == "failure" else 15,
        usage_estimated=True if outcome == "success" else None,
    )


async def with_events(app: Starlette, client: httpx.AsyncClient, events: int) -> str:
    cid = await create_connector(client, "http://127.0.0.1:9/v1/chat/completions")
    services = app.state.services
    for number in range(events):  # the same hour for runs of 300: paging must not skip ties
        outcome = "failure" if number % 10 == 0 else "success"
        services.events.record(made(number, cid, hours=number // 300, outcome=outcome))
    services.events.record(made(99_999, "another-connector", hours=0))
    await services.flush_events()
    return cid


async def test_ndjson_has_every_event_once_oldest_first_as_find_shows_them(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    cid = await with_events(app, client, 1234)
    response = await client.get(f"/api/event_log/connector/{cid}/_export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"] == f'attachment; filename="{cid}-events.ndjson"'
    lines = [json.loads(line) for line in response.text.splitlines()]
    ids = [line["kibana"]["action"]["execution"]["uuid"] for line in lines]
    assert len(ids) == len(set(ids)) == 1234
    stamps = [line["@timestamp"] for line in lines]
    assert stamps == sorted(stamps)
    assert lines[0] == made(0, cid, hours=0, outcome="failure").to_wire()


async def test_csv_has_the_columns_and_unknown_counts_empty(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    cid = await with_events(app, client, 20)
    url = f"/api/event_log/connector/{cid}/_export?format=csv&outcome=failure"
    response = await client.get(url)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["id"] for r in records] == [made(n, cid, hours=0).id for n in (0, 10)]
    first = records[0]
    assert first["connector_name"] == 'exported, with "quotes"'
    assert first["error_message"] == "boom\nsecond line"
    assert (first["prompt_tokens"], first["completion_tokens"], first["usage_estimated"]) == (
        "10",
        "",
        "",
    )
    assert first["timestamp"] == "2026-11-01T00:00:00.000000Z"


async def test_a_time_range_limits_the_export(app: Starlette, client: httpx.AsyncClient) -> None:
    cid = await with_events(app, client, 900)  # hours 0, 1 and 2
    start = (T0 + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    end = (T0 + timedelta(hours=1, minutes=30)).isoformat().replace("+00:00", "Z")
    response = await client.get(
        f"/api/event_log/connector/{cid}/_export", params={"start": start, "end": end}
    )
    events = [json.loads(line) for line in response.text.splitlines()]
    assert len(events) == 300
    assert {e["@timestamp"] for e in events} == {"2026-11-01T01:00:00.000Z"}


async def test_bad_exports_are_refused_in_kibanas_shape_before_anything_is_sent(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    cid = await with_events(app, client, 1)
    url = f"/api/event_log/connector/{cid}/_export"
    cases = {
        "?format=xml": "[format]: must be one of ndjson, csv; got [xml]",
        "?start=2026-11-02T00:00:00Z&end=2026-11-01T00:00:00Z": (
            "[end]: 2026-11-01T00:00:00+00:00 is before [start] 2026-11-02T00:00:00+00:00"
        ),
        "?outcome=maybe": "[outcome]: must be one of success, failure, unknown; got [maybe]",
        "?start=yesterday": "[start]: [yesterday] is not an ISO 8601 date and time",
        "?page=2": "[page]: definition for this key is missing",
    }
    for query, message in cases.items():
        response = await client.get(url + query)
        assert response.json() == {"statusCode": 400, "error": "Bad Request", "message": message}
    missing = await client.get("/api/event_log/connector/no-such-connector/_export")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Saved object [action/no-such-connector] not found"

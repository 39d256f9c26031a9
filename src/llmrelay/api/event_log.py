"""A connector's executions: ``_find`` (paged, filtered) and ``_export`` (NDJSON/CSV, streamed)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import BaseRoute, Route

from llmrelay.api.connectors import actions_of
from llmrelay.auth import principal_of
from llmrelay.errors import BadRequestError
from llmrelay.eventlog import EXPORT_FORMATS, ExportQuery, FindQuery

KNOWN_PARAMETERS = frozenset({"start", "end", "outcome", "page", "per_page", "sort"})
MAX_NUMBER = 1_000_000_000
"""The largest ``page`` or ``per_page`` read: past it no page can hold an event, and the offset
it makes would not fit the database's 64-bit integer (``page=10^20`` was a bare 500)."""
EXPORT_PARAMETERS = frozenset({"format", "start", "end", "outcome"})


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    # an unescaped "+" in a query string arrives as a space: "2026-01-01T00:00:00 01:00"
    text = value.strip().replace(" ", "+").replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestError(f"[{name}]: [{value}] is not an ISO 8601 date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(name: str, value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequestError(f"[{name}]: [{value}] is not a whole number") from None
    if number > MAX_NUMBER:
        raise BadRequestError(f"[{name}]: must be at most {MAX_NUMBER}; got [{value}]")
    return number


def parse_query(params: dict[str, str]) -> FindQuery:
    unknown = sorted(set(params) - KNOWN_PARAMETERS)
    if unknown:
        raise BadRequestError(f"[{unknown[0]}]: definition for this key is missing")
    field, _, order = params.get("sort", "@timestamp:desc").partition(":")
    return FindQuery(
        start=_time("start", params.get("start")),
        end=_time("end", params.get("end")),
        outcome=params.get("outcome"),
        page=_number("page", params.get("page"), 1),
        per_page=_number("per_page", params.get("per_page"), 10),
        sort_field=field,
        sort_order=order or "desc",
    )


async def find_connector_events(request: Request) -> JSONResponse:
    query = parse_query(dict(request.query_params))
    found = await actions_of(request).find_events(
        request.path_params["connector_id"], query, principal=principal_of(request.scope)
    )
    return JSONResponse(
        {
            "page": found.page,
            "per_page": found.per_page,
            "total": found.total,
            "data": [event.to_wire() for event in found.data],
        }
    )


def parse_export_query(params: dict[str, str]) -> ExportQuery:
    unknown = sorted(set(params) - EXPORT_PARAMETERS)
    if unknown:
        raise BadRequestError(f"[{unknown[0]}]: definition for this key is missing")
    return ExportQuery(
        format=params.get("format", "ndjson"),
        start=_time("start", params.get("start")),
        end=_time("end", params.get("end")),
        outcome=params.get("outcome"),
    )


async def export_connector_events(request: Request) -> StreamingResponse:
    query = parse_export_query(dict(request.query_params))
    connector_id = request.path_params["connector_id"]
    lines = await actions_of(request).export_events(
        connector_id, query, principal=principal_of(request.scope)
    )
    name = f"{re.sub(r'[^A-Za-z0-9._-]', '_', connector_id)}-events.{query.format}"
    return StreamingResponse(
        lines,
        media_type=EXPORT_FORMATS[query.format],
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


routes: list[BaseRoute] = [
    Route("/api/event_log/connector/{connector_id}/_find", find_connector_events, methods=["GET"]),
    Route(
        "/api/event_log/connector/{connector_id}/_export",
        export_connector_events,
        methods=["GET"],
    ),
]

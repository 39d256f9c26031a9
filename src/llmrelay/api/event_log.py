"""``GET /api/event_log/connector/{id}/_find``: a connector's executions, paged and filtered."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from llmrelay.api.connectors import actions_of
from llmrelay.auth import principal_of
from llmrelay.errors import BadRequestError
from llmrelay.eventlog import FindQuery

KNOWN_PARAMETERS = frozenset({"start", "end", "outcome", "page", "per_page", "sort"})


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
        return int(value)
    except ValueError:
        raise BadRequestError(f"[{name}]: [{value}] is not a whole number") from None


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


routes: list[BaseRoute] = [
    Route("/api/event_log/connector/{connector_id}/_find", find_connector_events, methods=["GET"])
]

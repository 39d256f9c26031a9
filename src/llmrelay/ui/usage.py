"""The token usage pages: ``/app/usage`` (all connectors) and ``/app/connectors/{id}/usage``.

Rendered on the server as tables of figures, so they read without JavaScript; ``usage.js`` then
draws the charts from the JSON API (``/internal/usage...``) for exactly the same range. The
figures come from ``ActionsClient.usage_dashboard`` only (where authorisation is checked).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from llmrelay.actions_client import ActionsClient
from llmrelay.auth import principal_of
from llmrelay.errors import UserError
from llmrelay.eventlog import UsageDashboard, UsageQuery
from llmrelay.eventlog.dashboard import INTERVALS, PERCENTILE_RELATIVE_ERROR
from llmrelay.ui.assets import STATIC_PREFIX, asset_version
from llmrelay.ui.templating import environment

RANGE_LABELS = {
    "15m": "Last 15 minutes",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "custom": "Custom (UTC)",
}


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _milliseconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:,.1f} ms"


def _duration_ns(value: int) -> str:
    return _milliseconds(value / 1e6)


def _local_input(value: datetime) -> str:
    """The value of a ``datetime-local`` input, in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _environment() -> Environment:
    return environment(
        number=_number,
        moment=_moment,
        milliseconds=_milliseconds,
        duration_ns=_duration_ns,
        local_input=_local_input,
    )


def _actions(request: Request) -> ActionsClient:
    client: ActionsClient = request.app.state.services.actions
    return client


def _bucket_label(moment: datetime, interval_s: int) -> str:
    return moment.strftime("%Y-%m-%d" if interval_s >= 86400 else "%m-%d %H:%M")


def routes() -> list[BaseRoute]:
    templates = Jinja2Templates(env=_environment())

    async def render(request: Request, connector_id: str | None) -> Response:
        params = dict(request.query_params)
        context: dict[str, object] = {
            "connector_id": connector_id,
            "dashboard": None,
            "params": params,
            "ranges": RANGE_LABELS,
            "intervals": ["auto", *INTERVALS],
            "static": STATIC_PREFIX,
            "version": asset_version(),
            "latency_error_pct": round(PERCENTILE_RELATIVE_ERROR * 100, 1),
            "bucket_label": _bucket_label,
        }
        if params.get("range", "custom") != "custom":
            # the form always sends its start and end fields: a chosen preset wins over them
            params = {k: v for k, v in params.items() if k not in ("start", "end")}
        try:
            query = UsageQuery.from_params(params)
            dashboard = await _actions(request).usage_dashboard(
                query, connector_id, principal=principal_of(request.scope)
            )
        except UserError as exc:
            context["error"] = exc.message
            return templates.TemplateResponse(
                request, "usage.html", context, status_code=exc.status_code
            )
        context.update(dashboard=dashboard, source=_source(dashboard))
        return templates.TemplateResponse(request, "usage.html", context)

    async def all_connectors(request: Request) -> Response:
        return await render(request, None)

    async def one_connector(request: Request) -> Response:
        return await render(request, request.path_params["connector_id"])

    return [
        Route("/app/usage", all_connectors, methods=["GET"]),
        Route("/app/connectors/{connector_id}/usage", one_connector, methods=["GET"]),
    ]


def _source(dashboard: UsageDashboard) -> str:
    """The JSON API URL with the range made absolute, so charts and tables show the same data."""
    path = "/internal/usage"
    if dashboard.connector_id is not None:
        path += f"/connector/{quote(dashboard.connector_id, safe='')}"
    query = dashboard.query
    fixed = {
        "start": query.start.isoformat().replace("+00:00", "Z"),
        "end": query.end.isoformat().replace("+00:00", "Z"),
        "interval": query.interval,
    }
    return f"{path}?{urlencode(fixed)}"

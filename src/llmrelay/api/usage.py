"""``GET /internal/usage`` and ``/internal/usage/connector/{id}``: the dashboard's figures as JSON.

The pages under ``/app/`` draw their charts from these; every read goes through
``ActionsClient.usage_dashboard``, where the caller's privileges are checked.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from llmrelay.api.connectors import actions_of
from llmrelay.auth import principal_of
from llmrelay.eventlog import UsageQuery


async def usage_of_all_connectors(request: Request) -> JSONResponse:
    query = UsageQuery.from_params(dict(request.query_params))
    dashboard = await actions_of(request).usage_dashboard(
        query, principal=principal_of(request.scope)
    )
    return JSONResponse(dashboard.to_wire())


async def usage_of_connector(request: Request) -> JSONResponse:
    query = UsageQuery.from_params(dict(request.query_params))
    connector_id = request.path_params["connector_id"]
    dashboard = await actions_of(request).usage_dashboard(
        query, connector_id, principal=principal_of(request.scope)
    )
    return JSONResponse(dashboard.to_wire())


routes: list[BaseRoute] = [
    Route("/internal/usage", usage_of_all_connectors, methods=["GET"]),
    Route("/internal/usage/connector/{connector_id}", usage_of_connector, methods=["GET"]),
]

"""Kibana's connector routes under ``/api/actions``: parse, one ActionsClient call, respond."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from llmrelay.actions_client import ActionsClient
from llmrelay.api.streaming import ByteStreamResponse
from llmrelay.api.wire import (
    CreateConnectorBody,
    UpdateConnectorBody,
    connector_to_wire,
    connector_type_to_wire,
    execute_params,
    parse_body,
    read_json,
)
from llmrelay.auth import principal_of
from llmrelay.jsontext import dumps


def actions_of(request: Request) -> ActionsClient:
    client: ActionsClient = request.app.state.services.actions
    return client


async def create_connector(request: Request) -> JSONResponse:
    connector_id = request.path_params.get("connector_id")
    body = parse_body(CreateConnectorBody, await read_json(request))
    connector = await actions_of(request).create(
        principal=principal_of(request.scope),
        name=body.name,
        connector_type_id=body.connector_type_id,
        config=body.config,
        secrets=body.secrets,
        connector_id=connector_id,
    )
    return JSONResponse(connector_to_wire(connector))


async def get_connector(request: Request) -> JSONResponse:
    connector_id = request.path_params["connector_id"]
    connector = await actions_of(request).get(connector_id, principal=principal_of(request.scope))
    return JSONResponse(connector_to_wire(connector))


async def _update(request: Request, *, keep_secrets_when_empty: bool) -> JSONResponse:
    connector_id = request.path_params["connector_id"]
    body = parse_body(UpdateConnectorBody, await read_json(request))
    connector = await actions_of(request).update(
        connector_id,
        principal=principal_of(request.scope),
        name=body.name,
        config=body.config,
        secrets=body.secrets,
        keep_secrets_when_empty=keep_secrets_when_empty,
    )
    return JSONResponse(connector_to_wire(connector))


async def update_connector(request: Request) -> JSONResponse:
    return await _update(request, keep_secrets_when_empty=False)


async def update_connector_keeping_secrets(request: Request) -> JSONResponse:
    """llmrelay's own update for the web UI: no ``secrets`` (or ``{}``) keeps the stored ones."""
    return await _update(request, keep_secrets_when_empty=True)


async def delete_connector(request: Request) -> Response:
    await actions_of(request).delete(
        request.path_params["connector_id"], principal=principal_of(request.scope)
    )
    return Response(status_code=204)


async def get_all_connectors(request: Request) -> JSONResponse:
    connectors = await actions_of(request).get_all(principal=principal_of(request.scope))
    return JSONResponse([{**connector_to_wire(c), "referenced_by_count": 0} for c in connectors])


async def list_connector_types(request: Request) -> JSONResponse:
    types = actions_of(request).list_types(
        request.query_params.get("feature_id"), principal=principal_of(request.scope)
    )
    return JSONResponse([connector_type_to_wire(info, enabled) for info, enabled in types])


async def execute_connector(request: Request) -> Response:
    params = execute_params(await read_json(request))
    result = await actions_of(request).execute(
        request.path_params["connector_id"],
        params,
        principal=principal_of(request.scope),
        source="http_request",
    )
    if result.stream is not None:
        return ByteStreamResponse(result.stream)
    return Response(dumps(result.to_wire()), media_type="application/json")


_BASE = "/api/actions"
execute_route = Route(
    f"{_BASE}/connector/{{connector_id}}/_execute", execute_connector, methods=["POST"]
)
"""Called for every execution: answered by ``RelayedRoutes`` unless CORS is on."""
routes: list[BaseRoute] = [
    # first: the router tries routes in order, and this is the one called for every execution
    execute_route,
    Route(f"{_BASE}/connector", create_connector, methods=["POST"]),
    Route(f"{_BASE}/connector/{{connector_id}}", create_connector, methods=["POST"]),
    Route(f"{_BASE}/connector/{{connector_id}}", get_connector, methods=["GET"]),
    Route(f"{_BASE}/connector/{{connector_id}}", update_connector, methods=["PUT"]),
    Route(
        "/internal/actions/connector/{connector_id}",
        update_connector_keeping_secrets,
        methods=["PUT"],
    ),
    Route(f"{_BASE}/connector/{{connector_id}}", delete_connector, methods=["DELETE"]),
    Route(f"{_BASE}/connectors", get_all_connectors, methods=["GET"]),
    Route(f"{_BASE}/connector_types", list_connector_types, methods=["GET"]),
]
"""Kibana's paths, as plain Starlette routes (see ``llmrelay.app`` for why not FastAPI)."""

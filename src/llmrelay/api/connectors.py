"""Kibana's connector routes under ``/api/actions``: parse, one ActionsClient call, respond."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from llmrelay.actions_client import ActionsClient
from llmrelay.api.streaming import ByteStreamResponse
from llmrelay.api.wire import (
    CreateConnectorBody,
    ExecuteBody,
    UpdateConnectorBody,
    connector_to_wire,
    connector_type_to_wire,
    parse_body,
    read_json,
)

router = APIRouter(prefix="/api/actions")


def actions_of(request: Request) -> ActionsClient:
    client: ActionsClient = request.app.state.services.actions
    return client


@router.post("/connector")
@router.post("/connector/{connector_id}")
async def create_connector(request: Request, connector_id: str | None = None) -> JSONResponse:
    body = parse_body(CreateConnectorBody, await read_json(request))
    connector = await actions_of(request).create(
        name=body.name,
        connector_type_id=body.connector_type_id,
        config=body.config,
        secrets=body.secrets,
        connector_id=connector_id,
    )
    return JSONResponse(connector_to_wire(connector))


@router.get("/connector/{connector_id}")
async def get_connector(request: Request, connector_id: str) -> JSONResponse:
    return JSONResponse(connector_to_wire(await actions_of(request).get(connector_id)))


@router.put("/connector/{connector_id}")
async def update_connector(request: Request, connector_id: str) -> JSONResponse:
    body = parse_body(UpdateConnectorBody, await read_json(request))
    connector = await actions_of(request).update(
        connector_id, name=body.name, config=body.config, secrets=body.secrets
    )
    return JSONResponse(connector_to_wire(connector))


@router.delete("/connector/{connector_id}", status_code=204)
async def delete_connector(request: Request, connector_id: str) -> Response:
    await actions_of(request).delete(connector_id)
    return Response(status_code=204)


@router.get("/connectors")
async def get_all_connectors(request: Request) -> JSONResponse:
    connectors = await actions_of(request).get_all()
    return JSONResponse([{**connector_to_wire(c), "referenced_by_count": 0} for c in connectors])


@router.get("/connector_types")
async def list_connector_types(request: Request, feature_id: str | None = None) -> JSONResponse:
    types = actions_of(request).list_types(feature_id)
    return JSONResponse([connector_type_to_wire(t) for t in types])


@router.post("/connector/{connector_id}/_execute", response_model=None)
async def execute_connector(
    request: Request, connector_id: str
) -> JSONResponse | ByteStreamResponse:
    body = parse_body(ExecuteBody, await read_json(request))
    result = await actions_of(request).execute(connector_id, body.params)
    if result.stream is not None:
        return ByteStreamResponse(result.stream)
    return JSONResponse(result.to_wire())

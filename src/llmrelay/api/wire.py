"""Kibana's wire shapes (snake_case) for connector requests and responses."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator
from starlette.requests import Request

from llmrelay.actions_client import Connector
from llmrelay.connectors import ConnectorTypeInfo, JsonObject
from llmrelay.connectors.schema import validate_model
from llmrelay.errors import BadRequestError
from llmrelay.jsontext import loads


async def read_json(request: Request) -> object:
    """The request body as JSON, with hapi's message for anything that does not parse."""
    raw = await request.body()
    if not raw:
        return None
    try:
        return loads(raw)
    except ValueError:
        raise BadRequestError("Invalid request payload JSON format") from None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("name", "connector_type_id", check_fields=False)
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(f"value '{value}' is not valid")
        return value


class CreateConnectorBody(_Body):
    name: str
    connector_type_id: str
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}


class UpdateConnectorBody(_Body):
    name: str
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}


class ExecuteBody(_Body):
    params: dict[str, Any]


ModelT = TypeVar("ModelT", bound=BaseModel)


def execute_params(data: object) -> dict[str, Any]:
    """The ``params`` of an execute body. The usual body, one JSON object under ``params``, is
    taken as it is (validating it with ``ExecuteBody`` cost 5 us of every execution on the bench
    machine, copying the dict); any other goes to ``ExecuteBody`` for Kibana's message."""
    if type(data) is dict and len(data) == 1:
        params = data.get("params")
        if type(params) is dict:
            return params
    return parse_body(ExecuteBody, data).params


def parse_body(model: type[ModelT], data: object) -> ModelT:
    if data is None:
        data = {}
    return validate_model(model, data, prefix="request body")


def connector_to_wire(connector: Connector) -> JsonObject:
    body: JsonObject = {
        "id": connector.id,
        "name": connector.name,
        "connector_type_id": connector.connector_type_id,
        "is_preconfigured": connector.is_preconfigured,
        "is_deprecated": connector.is_deprecated,
        "is_system_action": connector.is_system_action,
    }
    if connector.config is not None:
        body["config"] = connector.config
    if connector.is_missing_secrets is not None:
        body["is_missing_secrets"] = connector.is_missing_secrets
    return body


def connector_type_to_wire(info: ConnectorTypeInfo, enabled: bool) -> JsonObject:
    return {
        "id": info.id,
        "name": info.name,
        "enabled": enabled,
        "enabled_in_config": enabled,
        "enabled_in_license": True,
        "minimum_license_required": info.minimum_license_required,
        "supported_feature_ids": list(info.supported_feature_ids),
        "is_system_action_type": info.is_system_action_type,
        "is_deprecated": info.is_deprecated,
    }

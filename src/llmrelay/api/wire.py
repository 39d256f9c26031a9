"""Kibana's wire shapes (snake_case) for connector requests and responses."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator
from starlette.requests import Request

from llmrelay.actions_client import Connector
from llmrelay.connectors import ConnectorTypeInfo, JsonObject
from llmrelay.connectors.schema import validate_model
from llmrelay.errors import BadRequestError
from llmrelay.jsontext import TooDeepError, loads

INVALID_JSON = "Invalid request payload JSON format"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE = (
    "contains a lone surrogate (an escape such as \\ud800 with no pair), which is not valid Unicode"
)


async def read_json(request: Request) -> object:
    """The request body as JSON, with hapi's message for anything that does not parse, and
    the reason for JSON nested too deep (refused before it can exhaust the stack)."""
    raw = await request.body()
    if not raw:
        return None
    try:
        return loads(raw)
    except TooDeepError as exc:
        raise BadRequestError(f"{INVALID_JSON}: {exc}") from None
    except ValueError:
        raise BadRequestError(INVALID_JSON) from None


def lone_surrogate_path(data: object) -> str | None:
    """Where in ``data`` a string (or key) holds a lone surrogate, as ``a.b.0``; else None.

    JSON may escape one (``"\\ud800"``) though it is no Unicode character: storage cannot
    encode it, so a body that names, configures or secures something refuses it up front.
    """
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                return path
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                child = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and _LONE_SURROGATE.search(key):
                    return child
                stack.append((child, item))
        elif isinstance(value, list):
            for index in reversed(range(len(value))):
                stack.append((f"{path}.{index}" if path else str(index), value[index]))
    return None


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
            _refuse_lone_surrogate_sub_action(params.get("subAction"))
            return params
    return parse_body(ExecuteBody, data).params


def _refuse_lone_surrogate_sub_action(sub_action: object) -> None:
    """The sub-action's name goes into the event and the audit log as it is: a lone surrogate
    there failed the whole batch it was written in (other executions' events with it)."""
    if type(sub_action) is str and not sub_action.isascii() and _LONE_SURROGATE.search(sub_action):
        raise BadRequestError(f"[request body.params.subAction]: {LONE_SURROGATE}")


def parse_body(model: type[ModelT], data: object) -> ModelT:
    """A body of the Kibana or security API as ``model``; text that is not Unicode is refused
    naming the field (``[request body.name]: ...``)."""
    if data is None:
        data = {}
    path = lone_surrogate_path(data)
    if path is not None:
        raise BadRequestError(f"[request body.{path}]: {LONE_SURROGATE}")
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

"""The connector-type framework: types, sub-actions, registry, and schema messages."""

from __future__ import annotations

from llmrelay.connectors.connector_type import (
    ByteStream,
    ConnectorContext,
    ConnectorType,
    ConnectorTypeInfo,
    JsonObject,
    SubAction,
    SubActionResult,
    SubActionService,
    sub_action,
)
from llmrelay.connectors.registry import ConnectorTypeRegistry

__all__ = [
    "ByteStream",
    "ConnectorContext",
    "ConnectorType",
    "ConnectorTypeInfo",
    "ConnectorTypeRegistry",
    "JsonObject",
    "SubAction",
    "SubActionResult",
    "SubActionService",
    "sub_action",
]

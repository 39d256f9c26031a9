"""The connector-type framework: types, sub-actions, registry, and schema messages."""

from __future__ import annotations

from llmrelay.connectors.connector_type import (
    EVERYONE_MAY_READ_EVENT_LOG,
    ByteStream,
    ConnectorContext,
    ConnectorType,
    ConnectorTypeInfo,
    EventLogAccess,
    EveryoneMayReadEventLog,
    JsonObject,
    SubAction,
    SubActionResult,
    SubActionService,
    sub_action,
)
from llmrelay.connectors.form import ConnectorForm, FormField
from llmrelay.connectors.registry import ConnectorTypeRegistry
from llmrelay.connectors.tokens import TiktokenCounter
from llmrelay.connectors.usage import (
    ExecutionDetails,
    StreamObserver,
    TokenCounter,
    TokenUsage,
    usage_from_json,
)

__all__ = [
    "EVERYONE_MAY_READ_EVENT_LOG",
    "ByteStream",
    "ConnectorContext",
    "ConnectorForm",
    "ConnectorType",
    "ConnectorTypeInfo",
    "ConnectorTypeRegistry",
    "EventLogAccess",
    "EveryoneMayReadEventLog",
    "ExecutionDetails",
    "FormField",
    "JsonObject",
    "StreamObserver",
    "SubAction",
    "SubActionResult",
    "SubActionService",
    "TiktokenCounter",
    "TokenCounter",
    "TokenUsage",
    "sub_action",
    "usage_from_json",
]

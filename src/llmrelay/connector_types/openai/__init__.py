"""The ``.gen-ai`` ("OpenAI") connector type: OpenAI, Azure OpenAI and OpenAI-compatible servers."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from llmrelay.connector_types.openai.schemas import (
    CONFIG_ALTERNATIVES,
    DEFAULT_MODEL,
    SECRETS_ALTERNATIVES,
)
from llmrelay.connector_types.openai.service import OpenAIService
from llmrelay.connector_types.openai.usage import UsageFromStream, answer_details
from llmrelay.connector_types.openai.validation import validate_api_url, validate_secret_rules
from llmrelay.connectors import (
    ConnectorType,
    ConnectorTypeInfo,
    ExecutionDetails,
    JsonObject,
    StreamObserver,
)
from llmrelay.connectors.schema import validate_one_of
from llmrelay.transport import ClientMaterialChecks, NetworkPolicy

__all__ = ["DEFAULT_MODEL", "OpenAIConnectorType"]


class OpenAIConnectorType(ConnectorType):
    info = ConnectorTypeInfo(
        id=".gen-ai",
        name="OpenAI",
        minimum_license_required="enterprise",
        supported_feature_ids=(
            "generativeAIForSecurity",
            "generativeAIForObservability",
            "generativeAIForSearchPlayground",
        ),
    )
    service_class = OpenAIService

    def __init__(self) -> None:
        self.pki_checks = ClientMaterialChecks()

    def validate_config(self, config: object, policy: NetworkPolicy) -> JsonObject:
        validated = validate_one_of(CONFIG_ALTERNATIVES, config)
        validate_api_url(str(getattr(validated, "apiUrl", "")), policy)
        return validated.model_dump(exclude_none=True)

    def validate_secrets(self, secrets: object) -> dict[str, str]:
        validated = validate_one_of(SECRETS_ALTERNATIVES, secrets)
        cleaned = {
            k: v for k, v in validated.model_dump(exclude_none=True).items() if isinstance(v, str)
        }
        validate_secret_rules(cleaned, self.pki_checks)
        return cleaned

    def details(
        self,
        config: Mapping[str, object],
        sub_action: str,
        params: BaseModel,
        data: JsonObject | None,
    ) -> ExecutionDetails:
        return answer_details(config, params, data)

    def stream_observer(
        self, config: Mapping[str, object], sub_action: str, params: BaseModel
    ) -> StreamObserver | None:
        return UsageFromStream(config, params)

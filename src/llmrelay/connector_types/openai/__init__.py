"""The ``.gen-ai`` ("OpenAI") connector type: OpenAI, Azure OpenAI and OpenAI-compatible servers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from pydantic import BaseModel

from llmrelay.connector_types.openai.estimate import Completion, stream_estimate
from llmrelay.connector_types.openai.form import OPENAI_FORM
from llmrelay.connector_types.openai.schemas import (
    CONFIG_ALTERNATIVES,
    DEFAULT_MODEL,
    SECRETS_ALTERNATIVES,
)
from llmrelay.connector_types.openai.service import OpenAIService
from llmrelay.connector_types.openai.usage import answer_details
from llmrelay.connector_types.openai.validation import validate_api_url, validate_secret_rules
from llmrelay.connectors import (
    ConnectorContext,
    ConnectorType,
    ConnectorTypeInfo,
    ExecutionDetails,
    JsonObject,
    SubActionService,
    TokenCounter,
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
        form=OPENAI_FORM,
    )
    service_class = OpenAIService

    def __init__(self, tokens: TokenCounter | None = None) -> None:
        """``tokens`` counts estimates when a provider reports no usage; None: no estimates."""
        self.tokens = tokens
        self._refusing_stream_options: set[str] = set()
        self.pki_checks = ClientMaterialChecks()

    def create_service(self, context: ConnectorContext) -> SubActionService:
        return OpenAIService(
            context, tokens=self.tokens, refusing_stream_options=self._refusing_stream_options
        )

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
        found = answer_details(config, params, data)
        body = getattr(params, "body", None)
        if found.usage is not None or not data or self.tokens is None or not isinstance(body, str):
            return found
        # a JSON answer without usage (to a streamed request: run and test insist on usage)
        completion = Completion()
        choices = data.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            completion.add_delta(choices[0].get("message"))
        return dataclasses.replace(found, estimate=stream_estimate(self.tokens, body, completion))

    def chat_completions_params(self, body: str, *, stream: bool) -> JsonObject | None:
        """``stream`` relays the provider's SSE as it arrives; ``run`` checks the answer's shape."""
        if stream:
            return {"subAction": "stream", "subActionParams": {"body": body, "stream": True}}
        return {"subAction": "run", "subActionParams": {"body": body}}

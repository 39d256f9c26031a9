"""Whatever a client sends as config or secrets, validation answers with a 400, never a crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmrelay.connector_types.openai import OpenAIConnectorType
from llmrelay.errors import BadRequestError
from llmrelay.settings import ActionsSettings
from llmrelay.transport import NetworkPolicy
from tests.strategies import JSON_VALUES

POLICY = NetworkPolicy.from_settings(ActionsSettings())
JSON = JSON_VALUES
CONFIG_KEYS = st.sampled_from(
    ["apiProvider", "apiUrl", "defaultModel", "headers", "verificationMode", "organizationId", "x"]
)
CONFIGS = st.dictionaries(
    CONFIG_KEYS,
    st.one_of(JSON, st.sampled_from(["OpenAI", "Azure OpenAI", "Other", "https://h/v1", "full"])),
)
SECRETS = st.dictionaries(
    st.sampled_from(["apiKey", "certificateData", "privateKeyData", "caData", "y"]), JSON
)


@settings(max_examples=300)
@given(CONFIGS)
def test_config_validation_only_ever_refuses_with_a_message(config: dict[str, object]) -> None:
    try:
        validated = OpenAIConnectorType().validate_config(config, POLICY)
    except BadRequestError as exc:
        refusal = exc.message
    else:
        assert validated["apiProvider"] in ("OpenAI", "Azure OpenAI", "Other")
        return
    assert refusal  # refused with words, not with a crash


@settings(max_examples=300)
@given(SECRETS)
def test_secrets_validation_only_ever_refuses_with_a_message(secrets: dict[str, object]) -> None:
    try:
        validated = OpenAIConnectorType().validate_secrets(secrets)
    except BadRequestError as exc:
        refusal = exc.message
    else:
        assert validated.get("apiKey") or validated.get("certificateData")
        return
    assert refusal  # refused with words, not with a crash

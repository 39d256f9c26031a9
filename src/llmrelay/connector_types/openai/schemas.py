"""Config, secrets, params and response schemas of the ``.gen-ai`` connector type (Kibana 9.x).

Field names and declaration order follow Kibana's ``common/openai/schema.ts`` because the order
decides which failure config-schema reports first, and clients compare those messages.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_MODEL = "gpt-4.1"
"""Kibana 9.x's ``DEFAULT_OPENAI_MODEL``; the one place to change it."""

DEFAULT_TIMEOUT_S = 120.0
"""Kibana's ``DEFAULT_TIMEOUT_MS`` for run/test/invokeAI."""

Provider = Literal["OpenAI", "Azure OpenAI", "Other"]
VerificationMode = Literal["full", "certificate", "none"]

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _ConfigBase(_Strict):
    @field_validator("headers", check_fields=False)
    @classmethod
    def _safe_headers(cls, headers: dict[str, str] | None) -> dict[str, str] | None:
        """Refuse header injection: a CR or LF would let a value start a new header line."""
        for name, value in (headers or {}).items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name [{name}] is not a valid HTTP header name")
            if "\r" in value or "\n" in value or "\0" in value:
                raise ValueError(f"header [{name}] has a value containing CR, LF or NUL")
        return headers


class AzureConfig(_ConfigBase):
    apiProvider: Literal["Azure OpenAI"]
    apiUrl: str
    headers: dict[str, str] | None = None
    contextWindowLength: int | float | None = None
    temperature: int | float | None = None


class OpenAIConfig(_ConfigBase):
    apiProvider: Literal["OpenAI"]
    apiUrl: str
    organizationId: str | None = None
    projectId: str | None = None
    defaultModel: str = DEFAULT_MODEL
    headers: dict[str, str] | None = None
    contextWindowLength: int | float | None = None
    temperature: int | float | None = None


class OtherConfig(_ConfigBase):
    apiProvider: Literal["Other"]
    apiUrl: str
    defaultModel: str
    verificationMode: VerificationMode | None = None
    headers: dict[str, str] | None = None
    contextWindowLength: int | float | None = None
    temperature: int | float | None = None
    enableNativeFunctionCalling: bool | None = None


CONFIG_ALTERNATIVES: tuple[type[_ConfigBase], ...] = (AzureConfig, OpenAIConfig, OtherConfig)
Config = AzureConfig | OpenAIConfig | OtherConfig


class ApiKeySecrets(_Strict):
    apiKey: str


class PkiSecrets(_Strict):
    apiKey: str | None = Field(default=None, min_length=1)
    certificateData: str | None = Field(default=None, min_length=1)
    privateKeyData: str | None = Field(default=None, min_length=1)
    caData: str | None = Field(default=None, min_length=1)


SECRETS_ALTERNATIVES: tuple[type[_Strict], ...] = (ApiKeySecrets, PkiSecrets)


class TelemetryMetadata(_Strict):
    pluginId: str | None = None
    aggregateBy: str | None = None


class RunParams(_Strict):
    body: str
    signal: Any = None
    timeout: int | float | None = None
    telemetryMetadata: TelemetryMetadata | None = None


class StreamParams(RunParams):
    stream: bool = False


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arguments: str
    name: str


class ToolCallFunction(FunctionCall):
    pass


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    function: ToolCallFunction
    type: str


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str
    content: str
    name: str | None = None
    function_call: FunctionCall | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class InvokeAIParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[Message]
    model: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: Literal["none", "auto"] | dict[str, Any] | None = None
    n: int | float | None = None
    stop: str | list[str] | None = None
    temperature: int | float | None = None
    response_format: Any = None
    signal: Any = None
    timeout: int | float | None = None
    telemetryMetadata: TelemetryMetadata | None = None


class DashboardParams(_Strict):
    dashboardId: str


IN_PROCESS_ONLY_PARAMS = frozenset({"signal", "timeout", "telemetryMetadata"})
"""Params Kibana strips before sending an invokeAI body to the provider."""


class ChoiceMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | None = None


class Choice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message: ChoiceMessage
    finish_reason: str | None = None
    index: int | None = None


class RunActionResponse(BaseModel):
    """Kibana's ``RunActionResponseSchema``, but for ``usage``: Kibana fails a ``run`` whose
    answer lacks a well-formed ``usage``; llmrelay answers it (many local servers send none) and
    records the counts as unknown, or estimated, in the event log (issue 5: bad usage never breaks
    the caller's answer). ``choices`` stays required."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    object: str | None = None
    created: int | float | None = None
    model: str | None = None
    usage: Any = None
    choices: list[Choice]


_OPTIONAL_TEXT = (str, type(None))
_OPTIONAL_NUMBER = (int, float, type(None))


def conforms_to_run_response(data: object) -> bool:
    """True when ``data`` has the usual shape of a chat completion, which ``RunActionResponse``
    accepts, checked without building its models: validating the answer with the models cost
    24 us of every ``run`` on the benchmark machine, 8% of an execution's CPU.

    Only exact JSON types pass (no ``bool`` for a number, no number for a text). False says
    nothing about validity: the models then decide, and word the error as Kibana does.
    """
    if type(data) is not dict:
        return False
    for key in ("id", "object", "model"):
        if type(data.get(key)) not in _OPTIONAL_TEXT:
            return False
    if type(data.get("created")) not in _OPTIONAL_NUMBER:
        return False
    choices = data.get("choices")
    if type(choices) is not list:
        return False
    for choice in choices:
        if type(choice) is not dict:
            return False
        message = choice.get("message")
        if (
            type(message) is not dict
            or type(message.get("role")) is not str
            or type(message.get("content")) not in _OPTIONAL_TEXT
            or type(choice.get("finish_reason")) not in _OPTIONAL_TEXT
            or type(choice.get("index")) not in (int, type(None))
        ):
            return False
    return True

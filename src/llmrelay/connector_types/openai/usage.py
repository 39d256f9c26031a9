"""What a ``.gen-ai`` execution used: provider, model and tokens, from the answer or the stream.

Only provider-reported usage is read here; when a stream carries none the counts stay unknown.
(Counting with a tokenizer, as Kibana does, is the event-log issue's estimated fallback.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel

from llmrelay.connectors import ExecutionDetails, TokenUsage, usage_from_json
from llmrelay.transport import SSEDecoder


def requested_model(config: Mapping[str, object], params: BaseModel) -> str | None:
    """The model the request names, else the connector's default model (never for Azure)."""
    model = getattr(params, "model", None)
    body = getattr(params, "body", None)
    if model is None and isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("model"), str):
            model = parsed["model"]
    default = config.get("defaultModel")
    if model is None and isinstance(default, str):
        model = default
    return model if isinstance(model, str) and model else None


def _provider(config: Mapping[str, object]) -> str | None:
    provider = config.get("apiProvider")
    return provider if isinstance(provider, str) else None


def answer_details(
    config: Mapping[str, object], params: BaseModel, data: Mapping[str, object] | None
) -> ExecutionDetails:
    """From a JSON answer: its ``model`` (what actually ran) and ``usage``."""
    model = data.get("model") if data else None
    return ExecutionDetails(
        provider=_provider(config),
        model=model if isinstance(model, str) else requested_model(config, params),
        usage=usage_from_json(data.get("usage")) if data else None,
    )


class UsageFromStream:
    """Reads chat-completion chunks as they pass; keeps the last ``usage`` and ``model`` seen."""

    def __init__(self, config: Mapping[str, object], params: BaseModel) -> None:
        self._provider = _provider(config)
        self._model = requested_model(config, params)
        self._usage: TokenUsage | None = None
        self._decoder = SSEDecoder()

    def feed(self, chunk: bytes) -> None:
        for event in self._decoder.feed(chunk):
            if event.data == "[DONE]":
                continue
            try:
                parsed = json.loads(event.data)
            except ValueError:
                continue
            if not isinstance(parsed, dict):
                continue
            if isinstance(parsed.get("model"), str) and parsed["model"]:
                self._model = parsed["model"]
            usage = usage_from_json(parsed.get("usage"))
            if usage is not None:
                self._usage = usage

    def details(self) -> ExecutionDetails:
        return ExecutionDetails(provider=self._provider, model=self._model, usage=self._usage)

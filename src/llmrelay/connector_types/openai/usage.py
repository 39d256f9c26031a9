"""What a ``.gen-ai`` execution used: provider, model and tokens, from the answer or the stream.

Provider-reported usage comes first; without it the details carry an estimate (``estimate.py``)
that the event log counts later, off the request path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping

from pydantic import BaseModel

from llmrelay.connector_types.openai.estimate import Completion
from llmrelay.connectors import ExecutionDetails, TokenUsage, usage_from_json
from llmrelay.jsontext import loads
from llmrelay.transport import SSEDecoder

STREAM_ERROR = "the provider reported an error in the stream"


def requested_model(config: Mapping[str, object], params: BaseModel) -> str | None:
    """The model the request names, else the connector's default model (never for Azure)."""
    model = getattr(params, "model", None)
    body = getattr(params, "body", None)
    if model is None and isinstance(body, str):
        try:
            parsed = loads(body)
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


_EVENT_END = re.compile(rb"\r?\n\r?\n")
_NULL_USAGE = re.compile(rb',\s*"usage"\s*:\s*null(?=\s*[,}])|"usage"\s*:\s*null\s*,\s*')


class ChatStreamReader:
    """Reads the chat-completion chunks of a relayed stream: model, usage, and what was said.

    When llmrelay itself asked for usage (``withhold_usage``), the caller must see the stream it
    would have seen without that: the final ``choices: []`` chunk carrying ``usage`` is kept
    back, and the ``"usage": null`` OpenAI then adds to every other chunk is cut out. To do
    that the bytes are relayed event by event (an event is complete at its blank line, however
    the network cut it); otherwise they pass through untouched as they arrive.
    """

    def __init__(
        self,
        details: ExecutionDetails,
        *,
        withhold_usage: bool,
        estimate: Callable[[Completion], Callable[[], TokenUsage]] | None,
    ) -> None:
        self._details = details
        self._model = details.model
        self._usage: TokenUsage | None = None
        self.withhold_usage = withhold_usage
        self._estimate = estimate
        self._decoder = SSEDecoder()
        self._pending = b""
        self._error: str | None = None
        self.completion = Completion()

    def relay(self, chunk: bytes) -> bytes:
        """The bytes of ``chunk`` the caller gets now (possibly fewer, held until complete)."""
        if not self.withhold_usage:
            for event in self._decoder.feed(chunk):
                self._read(event.data, event.event)
            return chunk
        self._pending += chunk
        out = []
        start = 0
        for end in _EVENT_END.finditer(self._pending):
            out.append(self._filtered(self._pending[start : end.end()]))
            start = end.end()
        self._pending = self._pending[start:]
        return b"".join(out)

    def rest(self) -> bytes:
        """What was held back of an event the stream never finished (relayed as it came)."""
        rest, self._pending = self._pending, b""
        return rest

    def _filtered(self, raw: bytes) -> bytes:
        """One whole event: relayed, cut of its ``"usage":null``, or withheld."""
        line = raw.rstrip(b"\r\n")
        if line.startswith(b"data:") and b"\n" not in line:  # the usual one-line event, fast
            events = [("message", line[5:].removeprefix(b" ").decode("utf-8", errors="replace"))]
        else:
            events = [(event.event, event.data) for event in self._decoder.feed(raw)]
        for name, data in events:
            parsed = self._read(data, name)
            if parsed is None:
                continue
            if parsed.get("choices") == [] and parsed.get("usage") is not None:
                return b""  # the usage chunk llmrelay asked for
            if "usage" in parsed and parsed["usage"] is None:
                return _without_null_usage(raw, parsed)
        return raw

    def _read(self, data: str, event: str = "message") -> dict[str, object] | None:
        if data == "[DONE]":
            return None
        try:
            parsed = loads(data, strict=True)
        except ValueError:
            parsed = None
        if event == "error" or (isinstance(parsed, dict) and "error" in parsed):
            self._failed(parsed, data)
        if not isinstance(parsed, dict):
            return None
        if isinstance(parsed.get("model"), str) and parsed["model"]:
            self._model = parsed["model"]
        usage = usage_from_json(parsed.get("usage"))
        if usage is not None:
            self._usage = usage
        choices = parsed.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            self.completion.add_delta(choices[0].get("delta"))
        return parsed

    def _failed(self, parsed: object, data: str) -> None:
        """An ``event: error`` or a ``{"error": ...}`` chunk: the stream failed after it began
        (OpenAI and others send one when a stream breaks). The bytes are still relayed; the
        execution is a failure with the provider's message. The first error is kept."""
        if self._error is not None:
            return
        error = parsed.get("error", parsed) if isinstance(parsed, dict) else data
        message = error.get("message") if isinstance(error, dict) else error
        if not isinstance(message, str) or not message.strip():
            message = data.strip()[:500] or "no message"
        self._error = f"{STREAM_ERROR}: {message}"

    def details(self) -> ExecutionDetails:
        """What was seen so far; with no usage, an estimate from the request and the text."""
        estimate = None
        if self._usage is None and self._estimate is not None:
            estimate = self._estimate(self.completion)
        return dataclasses.replace(
            self._details,
            model=self._model,
            usage=self._usage,
            estimate=estimate,
            stream_error=self._error,
        )


def _without_null_usage(raw: bytes, parsed: dict[str, object]) -> bytes:
    """``raw`` with its top-level ``"usage":null`` cut out; unchanged when that is not certain.

    Inside a JSON string a quote is always escaped, so a lone ``"usage"`` in the event is a key,
    and ``parsed`` says the top level has it: then it is that key (the usual case, and cheap).
    Otherwise the cut is checked by parsing the result again.
    """
    stripped, cuts = _NULL_USAGE.subn(b"", raw, count=1)
    if cuts != 1:
        return raw
    if raw.count(b'"usage"') == 1:
        return stripped
    expected = {k: v for k, v in parsed.items() if k != "usage"}
    for line in stripped.splitlines():
        if line.startswith(b"data:"):
            try:
                if loads(line[5:]) == expected:
                    return stripped
            except ValueError:
                break
    return raw

"""Kibana's token estimates for a ``.gen-ai`` run whose provider reported no usage.

The formulas are Kibana's (``gen_ai_token_tracking.ts`` and the ``get_token_count_from_*``
helpers): a prompt is the messages written as ``<|start|>{role}\\n{content}...<|end|>`` joined by
``\\n`` (plus the ``functions`` for ``stream``), a completion the streamed text. Everything here
runs off the request path (the event log's recording step calls it in a worker thread), and
only when the provider said nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from llmrelay.connectors import TokenCounter, TokenUsage


def _text(value: object) -> str:
    """A message's ``content``: a string, or the ``text`` of its parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [p.get("text") for p in value if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def messages_prompt(messages: Sequence[object], *, with_extras: bool) -> str:
    """``<|start|>{role}\\n{content}\\n{X}<|end|>`` per message, joined by ``\\n``.

    ``with_extras`` (the ``stream`` formula): X is the ``name`` if the message has one, else the
    ``function_call`` name and arguments; without it (``invokeStream``) there is no ``\\n{X}``.
    """
    lines = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        head = f"<|start|>{message.get('role', '')}\n{_text(message.get('content'))}"
        if not with_extras:
            lines.append(f"{head}<|end|>")
            continue
        extra = ""
        call = message.get("function_call")
        if "name" in message:
            extra = str(message["name"])
        elif isinstance(call, dict):
            extra = f"{call.get('name', '')}\n{call.get('arguments', '')}"
        lines.append(f"{head}\n{extra}<|end|>")
    return "\n".join(lines)


def functions_prompt(functions: object) -> str:
    """``<|start|>{name}\\n{description}\\n{JSON(parameters)}<|end|>`` per function."""
    if not isinstance(functions, list):
        return ""
    lines = []
    for fn in functions:
        if isinstance(fn, dict):
            parameters = json.dumps(fn.get("parameters"), ensure_ascii=False, separators=(",", ":"))
            lines.append(
                f"<|start|>{fn.get('name', '')}\n{fn.get('description', '')}\n{parameters}<|end|>"
            )
    return "\n".join(lines)


@dataclass
class Completion:
    """What a stream said so far: text, and a function call (or tool calls) being built."""

    content: list[str] = field(default_factory=list)
    function_name: list[str] = field(default_factory=list)
    function_arguments: list[str] = field(default_factory=list)

    def add_delta(self, delta: object) -> None:
        if not isinstance(delta, dict):
            return
        content = delta.get("content")
        if isinstance(content, str):
            self.content.append(content)
        calls: list[object] = [delta.get("function_call")]
        tool_calls = delta.get("tool_calls")
        if isinstance(tool_calls, list):
            calls += [t.get("function") for t in tool_calls if isinstance(t, dict)]
        for call in calls:
            if isinstance(call, dict):
                if isinstance(call.get("name"), str):
                    self.function_name.append(call["name"])
                if isinstance(call.get("arguments"), str):
                    self.function_arguments.append(call["arguments"])

    def as_json(self) -> str:
        """Kibana's completion text for ``stream``: JSON of the non-empty parts."""
        said: dict[str, object] = {}
        if self.content:
            said["content"] = "".join(self.content)
        if self.function_name or self.function_arguments:
            said["function_call"] = {
                "name": "".join(self.function_name),
                "arguments": "".join(self.function_arguments),
            }
        return json.dumps(said, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Estimate:
    """An estimate waiting to be counted; the texts are built when it is, off the request path."""

    counter: TokenCounter
    prompt_texts: Callable[[], list[str]]
    """Counted one by one and added up, as Kibana adds its messages and functions counts."""
    completion_text: Callable[[], str]

    def __call__(self) -> TokenUsage:
        prompt = sum(self.counter.count(text) for text in self.prompt_texts() if text)
        completion = self.counter.count(self.completion_text())
        return TokenUsage(prompt, completion, prompt + completion, estimated=True)


def _body_prompt(body: str) -> list[str]:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    messages = parsed.get("messages") if isinstance(parsed, dict) else None
    functions = parsed.get("functions") if isinstance(parsed, dict) else None
    listed = messages if isinstance(messages, list) else []
    return [messages_prompt(listed, with_extras=True), functions_prompt(functions)]


def stream_estimate(counter: TokenCounter, body: str, completion: Completion) -> Estimate:
    """``stream`` (and a JSON answer to a streamed request): the body's messages and functions."""
    return Estimate(counter, partial(_body_prompt, body), completion.as_json)


def invoke_stream_estimate(
    counter: TokenCounter, messages: Sequence[object], completion: Completion
) -> Estimate:
    """``invokeStream``: the messages without extras; the completion is the plain text."""
    return Estimate(
        counter,
        lambda: [messages_prompt(messages, with_extras=False)],
        lambda: "".join(completion.content),
    )

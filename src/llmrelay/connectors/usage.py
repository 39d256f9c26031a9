"""Token usage and what an execution reports about itself, for the event log.

Connector types extract these (DESIGN.md rule 2: generic code never looks inside a provider's
answer). A count the provider did not give, or gave as something other than a number, is
``None`` (unknown), never zero: a dashboard must not under-count silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    estimated: bool = False
    """True when counted by llmrelay (a tokenizer) rather than reported by the provider."""


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value < 0 or value != int(value):
        return None
    return int(value)


def usage_from_json(data: object) -> TokenUsage | None:
    """OpenAI's ``usage`` object (``prompt_tokens``, ``completion_tokens``, ``total_tokens``)."""
    if not isinstance(data, Mapping):
        return None
    usage = TokenUsage(
        _count(data.get("prompt_tokens")),
        _count(data.get("completion_tokens")),
        _count(data.get("total_tokens")),
    )
    if (
        usage.prompt_tokens is None
        and usage.completion_tokens is None
        and usage.total_tokens is None
    ):
        return None
    return usage


class TokenCounter(Protocol):
    """Counts the tokens of a text (a tokenizer). Slow enough to keep off the request path."""

    def count(self, text: str) -> int:
        """Raises ``LookupError`` when the tokenizer cannot be loaded."""
        ...


@dataclass(frozen=True)
class ExecutionDetails:
    """What the event log records about a run besides its outcome."""

    provider: str | None = None
    model: str | None = None
    usage: TokenUsage | None = None
    request_body_bytes: int | None = None
    estimate: Callable[[], TokenUsage] | None = None
    """Counts the tokens when the provider reported none (``usage`` is None). Blocking: the
    recorder calls it in a worker thread, after the caller has its answer."""
    stream_error: str | None = None
    """The provider's own error inside a stream it had begun (an SSE ``event: error``): the
    execution failed though every byte was relayed."""


class StreamObserver(Protocol):
    """Sees a copy of every chunk of a relayed stream; never changes what the caller gets."""

    def feed(self, chunk: bytes) -> None: ...

    def details(self) -> ExecutionDetails:
        """What was learned so far (called when the stream ends, breaks or is abandoned)."""
        ...

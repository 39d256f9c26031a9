"""Token usage and what an execution reports about itself, for the event log.

Connector types extract these (DESIGN.md rule 2: generic code never looks inside a provider's
answer). A count the provider did not give, or gave as something other than a count, is
``None`` (unknown), never zero: a dashboard must not under-count silently. A count is a
non-negative integer below 2^63 (what a database's 64-bit integer holds); ``true``, ``-1``,
``1.5`` or ``2**63`` are not, and the usage says so (``invalid``). When no count is usable there
is no usage at all, and the connector type estimates it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

MAX_COUNT = 2**63 - 1
"""The largest count stored: PostgreSQL's ``BIGINT`` and SQLite's ``INTEGER`` are 64 bits."""


def is_count(value: object) -> bool:
    """A non-negative integer that fits a 64-bit column (``bool`` is not a count)."""
    return type(value) is int and 0 <= value <= MAX_COUNT


@dataclass(frozen=True)
class TokenUsage:
    """Counts as they can be stored, whoever made them: one that is not a count (``2**63``,
    ``-1``, ``true``, a text) becomes ``None`` and marks the usage ``invalid`` here, the one
    place every connector type's usage passes, so no value a database cannot hold reaches the
    event log's batches."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    estimated: bool = False
    """True when counted by llmrelay (a tokenizer) rather than reported by the provider."""
    invalid: bool = False
    """True when the provider reported a count that is not one (kept as ``None``)."""

    def __post_init__(self) -> None:
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = getattr(self, name)
            if value is not None and not is_count(value):
                object.__setattr__(self, name, None)
                object.__setattr__(self, "invalid", True)


def _integral(value: object) -> object:
    """A JSON ``12.0`` is a count of 12; anything else is left for ``TokenUsage`` to judge."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def usage_from_json(data: object) -> TokenUsage | None:
    """OpenAI's ``usage`` object (``prompt_tokens``, ``completion_tokens``, ``total_tokens``)."""
    if not isinstance(data, Mapping):
        return None
    usage = TokenUsage(
        _integral(data.get("prompt_tokens")),  # type: ignore[arg-type]  # checked by TokenUsage
        _integral(data.get("completion_tokens")),  # type: ignore[arg-type]
        _integral(data.get("total_tokens")),  # type: ignore[arg-type]
    )
    counts = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
    if counts == (None, None, None):
        return None  # nothing usable: the connector type may estimate instead
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

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


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    estimated: bool = False
    """True when counted by llmrelay (a tokenizer) rather than reported by the provider."""
    invalid: bool = False
    """True when the provider reported a count that is not one (kept as ``None``)."""


MAX_COUNT = 2**63 - 1
"""The largest count stored: PostgreSQL's ``BIGINT`` and SQLite's ``INTEGER`` are 64 bits."""


def is_count(value: object) -> bool:
    """A non-negative integer that fits a 64-bit column (``bool`` is not a count)."""
    return type(value) is int and 0 <= value <= MAX_COUNT


def _count(value: object) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a JSON 12.0 is a count of 12
    return value if is_count(value) else None  # type: ignore[return-value]


def usage_from_json(data: object) -> TokenUsage | None:
    """OpenAI's ``usage`` object (``prompt_tokens``, ``completion_tokens``, ``total_tokens``)."""
    if not isinstance(data, Mapping):
        return None
    reported = [data.get(name) for name in ("prompt_tokens", "completion_tokens", "total_tokens")]
    counts = [_count(value) for value in reported]
    if all(c is None for c in counts):
        return None  # nothing usable: the connector type may estimate instead
    invalid = any(c is None and v is not None for c, v in zip(counts, reported, strict=True))
    return TokenUsage(counts[0], counts[1], counts[2], invalid=invalid)


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

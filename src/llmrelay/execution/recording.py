"""Turning one execution into its event, now or (for a stream) when the stream is over."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from functools import partial

from llmrelay.connectors import (
    ByteStream,
    ExecutionDetails,
    StreamObserver,
    TokenUsage,
)
from llmrelay.errors import LlmrelayError
from llmrelay.eventlog import START_ACTION, EventLogWriter, ExecutionEvent, Source
from llmrelay.execution.results import ActionResult
from llmrelay.storage import StoredConnector, time_ordered_id

ABANDONED = "the caller closed the stream before it ended"
logger = logging.getLogger("llmrelay.eventlog")


class PendingEstimates:
    """Counts estimated tokens in worker threads, then records their events.

    Tokenising takes tens to hundreds of microseconds of CPU per execution: done on the event
    loop it would delay every other request, so it runs in the loop's default executor after the
    caller has its answer (for a stream: after its last byte). ``wait`` waits for the counts
    still running (shutdown calls it), so a clean shutdown loses none of their events.
    """

    def __init__(self, events: EventLogWriter) -> None:
        self._events = events
        self._pending: set[asyncio.Future[TokenUsage]] = set()

    def record(self, event: ExecutionEvent, estimate: Callable[[], TokenUsage]) -> None:
        future = asyncio.get_running_loop().run_in_executor(None, estimate)
        self._pending.add(future)
        future.add_done_callback(partial(self._counted, event))

    def _counted(self, event: ExecutionEvent, future: asyncio.Future[TokenUsage]) -> None:
        self._pending.discard(future)
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or error is not None:
            if not isinstance(error, LookupError):  # LookupError: no tokenizer, logged once
                logger.error("token estimate failed", exc_info=error)
            self._events.record(event)
            return
        self._events.record(with_usage(event, future.result()))

    async def wait(self) -> None:
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


def with_usage(event: ExecutionEvent, usage: TokenUsage) -> ExecutionEvent:
    """The event (not recorded yet) given ``usage``'s counts, which ``TokenUsage`` has already
    made storable (an impossible count is ``None``, flagged ``invalid``)."""
    event.prompt_tokens = usage.prompt_tokens
    event.completion_tokens = usage.completion_tokens
    event.total_tokens = usage.total_tokens
    event.usage_estimated = usage.estimated
    event.usage_invalid = True if usage.invalid else None
    return event


def _error_message(result: ActionResult) -> str | None:
    """Kibana's ``error.message``: ``<message>: <service_message>; retry: true``."""
    if result.status == "ok":
        return None
    text = result.message or ""
    if result.service_message:
        text += f": {result.service_message}"
    if isinstance(result.retry, datetime):
        text += f"; retry at {result.retry.isoformat()}"
    elif result.retry:
        text += "; retry: true"
    return text


class Recorder:
    def __init__(
        self,
        events: EventLogWriter,
        estimates: PendingEstimates,
        stored: StoredConnector,
        sub_action: object,
        *,
        source: Source,
        user_name: str | None,
        started_at: datetime,
        started_ns: int,
    ) -> None:
        self._events = events
        self._estimates = estimates
        self._stored = stored
        self._sub_action = sub_action if isinstance(sub_action, str) else None
        self._source = source
        self._user_name = user_name
        self._started_at = started_at
        self._started_ns = started_ns
        self._id = time_ordered_id()
        events.record(
            ExecutionEvent(
                id=self._id,
                timestamp=started_at,
                end=started_at,
                duration_ns=0,
                outcome="unknown",
                connector_id=stored.id,
                connector_name=stored.name,
                connector_type_id=stored.connector_type_id,
                sub_action=self._sub_action,
                source=source,
                message=f"action started: {stored.connector_type_id}:{stored.id}: {stored.name}",
                user_name=user_name,
                action=START_ACTION,
            )
        )

    def finish(
        self, result: ActionResult, details: ExecutionDetails, observer: StreamObserver | None
    ) -> ActionResult:
        """Record now, or hand back a stream that records itself once it is over."""
        if result.stream is None:
            self._record(result.status == "ok", _error_message(result), details)
            return result
        return dataclasses.replace(result, stream=self._observed(result.stream, details, observer))

    def abandon(self, error: str) -> None:
        """The execution ended without a result (cancelled, or a bug): a failure with ``error``,
        so that its ``execute-start`` is replaced and it is not counted as running for ever."""
        self._record(False, error, ExecutionDetails())

    def _observed(
        self, stream: ByteStream, details: ExecutionDetails, observer: StreamObserver | None
    ) -> ByteStream:
        recorded = False
        error: str | None = ABANDONED

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            if stream.details is not None:
                seen = stream.details()
            else:
                seen = observer.details() if observer is not None else details
            merged = dataclasses.replace(
                details,
                model=seen.model or details.model,
                usage=seen.usage or details.usage,
                estimate=seen.estimate,
            )
            if seen.stream_error is not None and error in (None, ABANDONED):
                self._record(False, seen.stream_error, merged)
            else:
                self._record(error is None or error == ABANDONED, error, merged)

        feed = observer.feed if observer is not None and stream.details is None else None

        async def chunks() -> AsyncGenerator[bytes, None]:
            nonlocal error
            try:
                async for chunk in stream.chunks:
                    if feed is not None:
                        feed(chunk)
                    yield chunk
                error = None
            except LlmrelayError as exc:
                error = str(exc)
                raise
            finally:
                record()

        relayed = chunks()

        async def aclose() -> None:
            try:
                await relayed.aclose()
                await stream.aclose()
            finally:
                record()

        return ByteStream(chunks=relayed, aclose=aclose, media_type=stream.media_type)

    def _record(self, success: bool, error: str | None, details: ExecutionDetails) -> None:
        stored = self._stored
        ended_at = datetime.now(UTC)
        verb = "action executed" if success else "action execution failure"
        usage = details.usage
        event = ExecutionEvent(
            id=self._id,
            timestamp=self._started_at,
            end=ended_at,
            duration_ns=time.perf_counter_ns() - self._started_ns,
            outcome="success" if success else "failure",
            connector_id=stored.id,
            connector_name=stored.name,
            connector_type_id=stored.connector_type_id,
            sub_action=self._sub_action,
            source=self._source,
            message=f"{verb}: {stored.connector_type_id}:{stored.id}: {stored.name}",
            provider=details.provider,
            model=details.model,
            user_name=self._user_name,
            error_message=error,
        )
        if usage is not None:
            self._events.record(with_usage(event, usage))
        elif details.estimate is not None:
            self._estimates.record(event, details.estimate)
        else:
            self._events.record(event)

"""Writing events without slowing or failing a request.

``record`` only appends to a queue. A background task writes batches; a failed batch is retried
with back-off and stays queued until it is written, and ``aclose`` (a clean shutdown) writes
everything accepted so far before returning. A writer made with ``enabled=False``
(``event_log.enabled: false``) accepts nothing and starts no task.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import operator
from collections import deque

from llmrelay.eventlog.events import ExecutionEvent
from llmrelay.storage import EventStore

logger = logging.getLogger("llmrelay.eventlog")

_COLUMNS = tuple(f.name for f in dataclasses.fields(ExecutionEvent))
_ROW = operator.attrgetter(*_COLUMNS)
"""An event's values as a tuple in ``_COLUMNS`` order, read in C: ``dataclasses.asdict``
deep-copies, and a dict per row cost the event loop about 14 us per event (with SQLAlchemy's
parameter handling) against 3 us now (``bench/eventlog.py``)."""
BATCH_SIZE = 500
FLUSH_INTERVAL_S = 0.2
MAX_QUEUED = 100_000
RETRY_DELAYS_S = (0.1, 0.5, 2.0, 5.0)


class EventLogWriter:
    def __init__(self, store: EventStore, *, enabled: bool = True) -> None:
        self._store = store
        self.enabled = enabled
        """False: executions leave no event; callers may skip building one."""
        self._queue: deque[ExecutionEvent] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.dropped = 0

    def start(self) -> None:
        if not self.enabled:
            return
        self._task = asyncio.create_task(self._run(), name="llmrelay-eventlog-writer")

    def record(self, event: ExecutionEvent) -> None:
        """Accept an event; never blocks, never raises."""
        if not self.enabled:
            return
        if len(self._queue) >= MAX_QUEUED:
            self.dropped += 1
            if self.dropped in (1, 100, 10_000) or self.dropped % 100_000 == 0:
                logger.error("event log queue full: %d events dropped so far", self.dropped)
            return
        self._queue.append(event)
        self._idle.clear()
        if len(self._queue) >= BATCH_SIZE:
            self._wake.set()

    async def flush(self) -> None:
        """Wait until every event accepted so far is written (tests and the CLI use this)."""
        self._wake.set()
        await self._idle.wait()

    async def aclose(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self._write_all()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL_S)
            self._wake.clear()
            await self._write_all()

    async def _write_all(self) -> None:
        while self._queue:
            batch = [self._queue[i] for i in range(min(BATCH_SIZE, len(self._queue)))]
            if not await self._write(batch):
                if self._closing:
                    logger.error("event log: %d events could not be written", len(self._queue))
                    self._queue.clear()
                break
            for _ in batch:
                self._queue.popleft()
        if not self._queue:
            self._idle.set()

    async def _write(self, batch: list[ExecutionEvent]) -> bool:
        rows = [_ROW(event) for event in batch]
        for attempt, delay_s in enumerate((0.0, *RETRY_DELAYS_S)):
            if delay_s:
                await asyncio.sleep(delay_s)
            try:
                await self._store.insert_rows(_COLUMNS, rows)
                return True
            except Exception:
                logger.exception(
                    "event log: writing %d events failed (try %d)", len(rows), attempt + 1
                )
        return False

"""Writing events without slowing or failing a request.

``record`` only appends to a queue; ``llmrelay.batching.BatchWriter`` writes batches in the
background, retries a failed one and, at a clean shutdown (``aclose``), writes everything
accepted so far before returning. A writer made with ``enabled=False``
(``event_log.enabled: false``) accepts nothing and starts no task.
"""

from __future__ import annotations

import dataclasses
import operator

from llmrelay.batching import BatchWriter
from llmrelay.eventlog.events import ExecutionEvent
from llmrelay.storage import EventStore

_COLUMNS = tuple(f.name for f in dataclasses.fields(ExecutionEvent))
_ROW = operator.attrgetter(*_COLUMNS)
"""An event's values as a tuple in ``_COLUMNS`` order, read in C: ``dataclasses.asdict``
deep-copies, and a dict per row cost the event loop about 14 us per event (with SQLAlchemy's
parameter handling) against 3 us now (``bench/eventlog.py``)."""
FLUSH_INTERVAL_S = 0.2


class EventLogWriter:
    def __init__(self, store: EventStore, *, enabled: bool = True) -> None:
        self._store = store
        self.enabled = enabled
        """False: executions leave no event; callers may skip building one."""
        self._batches: BatchWriter[ExecutionEvent] = BatchWriter(
            self._write, name="event log", items="events", flush_interval_s=FLUSH_INTERVAL_S
        )

    @property
    def dropped(self) -> int:
        return self._batches.dropped

    def start(self) -> None:
        if self.enabled:
            self._batches.start()

    def record(self, event: ExecutionEvent) -> None:
        """Accept an event; never blocks, never raises."""
        if self.enabled:
            self._batches.put(event)

    async def flush(self) -> None:
        """Wait until every event accepted so far is written (tests and the CLI use this)."""
        await self._batches.flush()

    async def aclose(self) -> None:
        await self._batches.aclose()

    async def _write(self, batch: list[ExecutionEvent]) -> None:
        await self._store.insert_rows(_COLUMNS, [_ROW(event) for event in batch])

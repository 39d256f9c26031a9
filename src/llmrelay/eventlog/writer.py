"""Writing events without slowing or failing a request.

``record`` only appends to a queue; ``llmrelay.batching.BatchWriter`` writes batches in the
background, keeps a bounded backlog while the database cannot write (and retries), splits a batch
the database refuses so one bad event never holds back the others, and at a clean shutdown
(``aclose``) writes everything accepted so far. A writer made with ``enabled=False``
(``event_log.enabled: false``) accepts nothing and starts no task.

An execution's ``execute-start`` event and its ``execute`` event share an id. A start waits
beside the queue, not in it, until its execution has run for a flush interval: most executions
end sooner, and their start is then dropped without ever being queued (queuing every start
halved what the writer could keep up with: at 2,300 executions a second its backlog grew by
1,600 events a second, which a SIGKILL then lost). A start that waited long enough is queued and
written; its finish later replaces it in the same transaction, or in the same batch skips it.
At a clean shutdown the starts of executions still running are queued, so they show as
unfinished.
"""

from __future__ import annotations

import dataclasses
import operator
import time

from llmrelay.batching import DEFAULT_DRAIN_TIMEOUT_S, DEFAULT_MAX_BACKLOG, BatchWriter
from llmrelay.batching import WriterHealth as WriterHealth
from llmrelay.errors import StorageUnavailableError
from llmrelay.eventlog.events import START_ACTION, ExecutionEvent
from llmrelay.storage import EventStore, storable_text

_COLUMNS = tuple(f.name for f in dataclasses.fields(ExecutionEvent))
_ROW = operator.attrgetter(*_COLUMNS)
"""An event's values as a tuple in ``_COLUMNS`` order, read in C: ``dataclasses.asdict``
deep-copies, and a dict per row cost the event loop about 14 us per event (with SQLAlchemy's
parameter handling) against 3 us now (``bench/eventlog.py``)."""
FLUSH_INTERVAL_S = 0.2


def without_offending_values(event: ExecutionEvent) -> ExecutionEvent:
    """The event as it can always be stored: no token counts (flagged ``usage_invalid``) and no
    NUL characters in its texts (PostgreSQL refuses them)."""
    return dataclasses.replace(
        event,
        prompt_tokens=None,
        completion_tokens=None,
        total_tokens=None,
        usage_invalid=True,
        connector_name=storable_text(event.connector_name) or "",
        message=storable_text(event.message) or "",
        model=storable_text(event.model),
        provider=storable_text(event.provider),
        user_name=storable_text(event.user_name),
        error_message=storable_text(event.error_message),
        sub_action=storable_text(event.sub_action),
    )


class EventLogWriter:
    def __init__(
        self,
        store: EventStore,
        *,
        enabled: bool = True,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
    ) -> None:
        self._store = store
        self.enabled = enabled
        """False: executions leave no event; callers may skip building one."""
        self._batches: BatchWriter[ExecutionEvent] = BatchWriter(
            self._write,
            name="event log",
            items="events",
            flush_interval_s=FLUSH_INTERVAL_S,
            max_backlog=max_backlog,
            drain_timeout_s=drain_timeout_s,
            unavailable=(StorageUnavailableError,),
            salvage=without_offending_values,
            describe=lambda event: f"connector {event.connector_id}",
            every_cycle=self._queue_long_starts,
        )
        self._running: dict[str, tuple[float, ExecutionEvent]] = {}
        """Starts of executions running, not queued yet, with when they started (monotonic s)."""
        self._open_starts: set[str] = set()
        """Ids of executions whose ``execute-start`` row is stored and not replaced yet."""

    @property
    def dropped(self) -> int:
        return self._batches.dropped

    def health(self) -> WriterHealth:
        return self._batches.health()

    def start(self) -> None:
        if self.enabled:
            self._batches.start()

    def record(self, event: ExecutionEvent) -> None:
        """Accept an event; never blocks, never raises.

        While the database cannot write, ``execute-start`` events are not kept: one only matters
        if the process dies before its execution ends, and then the backlog dies with it; so the
        backlog holds that many more finished executions."""
        if not self.enabled:
            return
        if event.action == START_ACTION:
            if self._batches.writing:
                self._running[event.id] = (time.monotonic(), event)
            return
        self._running.pop(event.id, None)
        self._batches.put(event)

    def _queue_long_starts(self, older_than_s: float = FLUSH_INTERVAL_S) -> None:
        """Queue the starts of executions running for ``older_than_s`` or more."""
        running = self._running
        if not running:
            return
        since = time.monotonic() - older_than_s
        long = [key for key, (started, _) in running.items() if started <= since]
        for key in long:
            self._batches.put(running.pop(key)[1])

    async def flush(self) -> None:
        """Wait until every event accepted so far is written (tests and the CLI use this)."""
        await self._batches.flush()

    async def aclose(self) -> None:
        self._queue_long_starts(older_than_s=0.0)  # still running: visible as unfinished
        await self._batches.aclose()

    async def _write(self, batch: list[ExecutionEvent]) -> None:
        finished = {event.id for event in batch if event.action != START_ACTION}
        open_starts = self._open_starts
        rows = []
        starts: list[str] = []
        replaced: list[ExecutionEvent] = []
        for event in batch:
            if event.action == START_ACTION:
                if event.id in finished:
                    continue  # its finish is in this batch: the start row would be replaced
                starts.append(event.id)
            elif event.id in open_starts:
                replaced.append(event)
            rows.append(_ROW(event))
        await self._store.insert_rows(
            _COLUMNS,
            rows,
            replacing_starts=[(e.id, e.connector_id, e.timestamp) for e in replaced],
        )
        open_starts.update(starts)
        open_starts.difference_update(e.id for e in replaced)

"""Retention: events older than ``event_log.retention_days`` are deleted in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from llmrelay.storage import EventStore

logger = logging.getLogger("llmrelay.eventlog")

PRUNE_INTERVAL_S = 3600.0
BATCH_SIZE = 1000
"""Rows per delete: each is its own short transaction, so writers wait milliseconds at most."""
BATCH_PAUSE_S = 0.05
"""Between batches of a large backlog, so that the event writer gets the database too."""


class EventLogPruner:
    """Deletes old events once at start and then every ``interval_s``; stopped by ``aclose``."""

    def __init__(
        self,
        store: EventStore,
        retention_days: int,
        *,
        interval_s: float = PRUNE_INTERVAL_S,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._store = store
        self._retention = timedelta(days=retention_days)
        self._interval_s = interval_s
        self._batch_size = batch_size
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.pruned = 0
        """Events deleted since start (for tests and the log)."""

    def start(self) -> None:
        if self._retention:  # 0 days: keep for ever
            self._task = asyncio.create_task(self._run(), name="llmrelay-eventlog-pruner")

    async def prune(self, now: datetime | None = None) -> int:
        """Delete everything older than the retention period, batch by batch; how many."""
        cutoff = (now or datetime.now(UTC)) - self._retention
        deleted = 0
        while not self._stop.is_set():
            count = await self._store.delete_older_than(cutoff, limit=self._batch_size)
            deleted += count
            if count < self._batch_size:
                break
            await asyncio.sleep(BATCH_PAUSE_S)
        self.pruned += deleted
        return deleted

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                deleted = await self.prune()
                if deleted:
                    logger.info("event log: deleted %d events past retention", deleted)
            except Exception:  # a locked or unreachable database: try again next round
                logger.exception("event log: deleting old events failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval_s)

    async def aclose(self) -> None:
        """Stops between two batches (a batch in progress finishes: it is one transaction)."""
        self._stop.set()
        if self._task is not None:
            await self._task

"""Queue now, write later: the background batch writer behind the event log and the audit log.

``put`` only appends to a queue, so recording never slows or fails a request. A task writes
batches of up to ``batch_size`` every ``flush_interval_s`` (sooner when a batch fills). A failed
batch is retried with back-off and stays queued until it is written; ``aclose`` (a clean
shutdown) writes everything accepted so far before returning, and only what still fails then
is dropped, with an error logged. A full queue drops new items, logged, so memory stays
bounded while the database is down for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
logger = logging.getLogger("llmrelay.batching")

DEFAULT_RETRY_DELAYS_S = (0.1, 0.5, 2.0, 5.0)


class BatchWriter(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        name: str,
        items: str = "items",
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        max_queued: int = 100_000,
        retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S,
    ) -> None:
        """``write`` stores one batch or raises; ``name`` and ``items`` word the log lines
        (``event log: writing 3 events failed (try 1)``)."""
        self._write_batch = write
        self._name = name
        self._items = items
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_queued = max_queued
        self._retry_delays_s = retry_delays_s
        self._queue: deque[T] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.dropped = 0
        """Items refused because the queue was full."""

    def start(self) -> None:
        self._task = asyncio.create_task(
            self._run(), name=f"llmrelay-{self._name.replace(' ', '-')}-writer"
        )

    def put(self, item: T) -> None:
        """Accept an item; never blocks, never raises."""
        if len(self._queue) >= self._max_queued:
            self.dropped += 1
            if self.dropped in (1, 100, 10_000) or self.dropped % 100_000 == 0:
                logger.error(
                    "%s queue full: %d %s dropped so far", self._name, self.dropped, self._items
                )
            return
        self._queue.append(item)
        self._idle.clear()
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Wait until everything accepted so far is written (tests and the CLI use this)."""
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
                await asyncio.wait_for(self._wake.wait(), self._flush_interval_s)
            self._wake.clear()
            await self._write_all()

    async def _write_all(self) -> None:
        while self._queue:
            batch = [self._queue[i] for i in range(min(self._batch_size, len(self._queue)))]
            if not await self._write(batch):
                if self._closing:
                    logger.error(
                        "%s: %d %s could not be written", self._name, len(self._queue), self._items
                    )
                    self._queue.clear()
                break
            for _ in batch:
                self._queue.popleft()
        if not self._queue:
            self._idle.set()

    async def _write(self, batch: list[T]) -> bool:
        for attempt, delay_s in enumerate((0.0, *self._retry_delays_s)):
            if delay_s:
                await asyncio.sleep(delay_s)
            try:
                await self._write_batch(batch)
                return True
            except Exception:  # any failure of the store: logged, retried, never raised
                logger.exception(
                    "%s: writing %d %s failed (try %d)",
                    self._name,
                    len(batch),
                    self._items,
                    attempt + 1,
                )
        return False


__all__ = ["BatchWriter"]

"""Queue now, write later: the background batch writer behind the event log and the audit log.

``put`` only appends to a queue, so recording never slows or fails a request. A task writes
batches of up to ``batch_size`` every ``flush_interval_s`` (sooner when a batch fills).

Two kinds of failure are told apart, because they need opposite answers:

- the store cannot write at all (an exception in ``unavailable``: full disk, database down). The
  batch stays queued and is retried with back-off for as long as it takes; items keep queueing
  up to ``max_backlog`` (only then are new ones dropped, counted). One line is logged when
  writing starts failing and one when it works again; ``health()`` says so meanwhile.
- the store refuses these rows (anything else: a value out of range, a NUL in a text). The batch
  is split in halves until the rows that fail are alone; such a row is written once more as
  ``salvage`` makes it (without the offending values), with a warning, and dropped (with an
  error) only if that fails too. One bad row never holds back the others.

``aclose`` (a clean shutdown) writes everything accepted so far, giving up after
``drain_timeout_s`` (a store that is unavailable, or a backlog too large to write in that time):
what is still queued then is counted and logged as lost, so a shutdown never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
logger = logging.getLogger("llmrelay.batching")

DEFAULT_RETRY_DELAYS_S = (0.1, 0.5, 2.0, 5.0)
"""Back-off between tries while the store is unavailable; the last delay repeats."""
DEFAULT_MAX_BACKLOG = 300_000
DEFAULT_DRAIN_TIMEOUT_S = 20.0
"""Within the 30 s Kubernetes gives a pod between SIGTERM and SIGKILL by default, with time
left for uvicorn to finish the requests in flight first."""
MAX_REASON_CHARS = 200


def short_reason(exc: BaseException) -> str:
    """What to show of a failure: its first line, without SQLAlchemy's ``[SQL: ...]`` and
    parameter dump (rows of other users' events do not belong in a log line or a status)."""
    text = str(exc).split("\n", 1)[0].split("[SQL:", 1)[0].strip() or type(exc).__name__
    return text[:MAX_REASON_CHARS]


@dataclass(frozen=True, slots=True)
class WriterHealth:
    """A writer's state, as ``/api/status`` and ``/readyz`` report it."""

    name: str
    backlog: int
    """Items accepted and not written yet."""
    dropped: int
    """Items refused because the backlog was full, or lost at shutdown."""
    rejected: int
    """Items the store refused even without their offending values."""
    failing_reason: str | None
    """Why the store cannot write now; ``None`` while writing works."""
    failing_for_s: float


class BatchWriter(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        name: str,
        items: str = "items",
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S,
        drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
        unavailable: tuple[type[BaseException], ...] = (),
        salvage: Callable[[T], T | None] = lambda item: None,
        describe: Callable[[T], str] = lambda item: "",
        every_cycle: Callable[[], None] = lambda: None,
    ) -> None:
        """``write`` stores one batch or raises; ``name`` and ``items`` word the log lines
        (``event log: cannot write ...``); ``describe`` names what one item belongs to
        (``connector abc``) in the warning about a row that could not be written;
        ``every_cycle`` runs before each round of writes (at least every flush interval), for
        a caller that queues items only once they have waited long enough."""
        self._write_batch = write
        self._name = name
        self._items = items
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_backlog = max_backlog
        self._retry_delays_s = retry_delays_s or (0.0,)
        self._drain_timeout_s = drain_timeout_s
        self._unavailable = unavailable
        self._salvage = salvage
        self._describe = describe
        self._every_cycle = every_cycle
        self._queue: deque[T] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        """Set when nothing waits, or when nothing can be written now (``flush`` returns)."""
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._deadline: float | None = None
        self._failing_reason: str | None = None
        self._failing_since = 0.0
        self._tries = 0
        self._recovering = False
        self._written_since_failure = 0
        self._closed = asyncio.Event()
        self.dropped = 0
        """Items refused because the backlog was full, or lost at shutdown."""
        self.rejected = 0
        """Items the store refused even without their offending values."""

    def start(self) -> None:
        self._task = asyncio.create_task(
            self._run(), name=f"llmrelay-{self._name.replace(' ', '-')}-writer"
        )

    def put(self, item: T) -> None:
        """Accept an item; never blocks, never raises."""
        queue = self._queue
        if len(queue) >= self._max_backlog:
            self.dropped += 1
            if self.dropped in (1, 100, 10_000) or self.dropped % 100_000 == 0:
                logger.error(
                    "%s: backlog full (%d %s waiting): %d %s dropped so far",
                    self._name,
                    len(queue),
                    self._items,
                    self.dropped,
                    self._items,
                )
            return
        queue.append(item)
        if self._failing_reason is None:
            self._idle.clear()
            if len(queue) >= self._batch_size:
                self._wake.set()

    @property
    def writing(self) -> bool:
        """False while the store cannot write (from the first failure to the next success)."""
        return self._failing_reason is None

    def health(self) -> WriterHealth:
        failing = self._failing_reason is not None
        return WriterHealth(
            name=self._name,
            backlog=len(self._queue),
            dropped=self.dropped,
            rejected=self.rejected,
            failing_reason=self._failing_reason,
            failing_for_s=time.monotonic() - self._failing_since if failing else 0.0,
        )

    async def flush(self) -> None:
        """Wait until everything accepted so far is written (tests and the CLI use this); returns
        at once while the store cannot write (the backlog is written when it can)."""
        self._wake.set()
        await self._idle.wait()

    async def aclose(self) -> None:
        """Write what is queued, for at most ``drain_timeout_s``."""
        self._closing = True
        self._deadline = time.monotonic() + self._drain_timeout_s
        self._closed.set()
        self._wake.set()
        task = self._task
        if task is not None:
            # a write that hangs (a database that stopped answering) must not hold the shutdown
            await asyncio.wait({task}, timeout=self._drain_timeout_s)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._write_all()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_interval_s)
            self._wake.clear()
            self._every_cycle()
            await self._write_all()

    async def _write_all(self) -> None:
        queue = self._queue
        while queue:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                self._lose_rest()
                return
            batch = [queue[i] for i in range(min(self._batch_size, len(queue)))]
            try:
                if self._deadline is None:
                    await self._write_front(batch)
                else:
                    async with asyncio.timeout(self._deadline - time.monotonic()):
                        await self._write_front(batch)
            except TimeoutError:  # only the shutdown's deadline: the stores raise no TimeoutError
                self._lose_rest()
                return
            except self._unavailable as exc:
                self._failed(exc)
                if not await self._back_off():
                    return
                continue
            if self._failing_reason is not None:
                self._failing_reason = None
                self._tries = 0
                if queue:
                    self._idle.clear()
            if self._recovering and not queue:
                logger.info(
                    "%s: writing works again after %.1f s; %d %s that waited are written",
                    self._name,
                    time.monotonic() - self._failing_since,
                    self._written_since_failure,
                    self._items,
                )
                self._recovering = False
                self._written_since_failure = 0
        if not queue:
            self._idle.set()

    async def _write_front(self, batch: list[T]) -> None:
        """Write ``batch`` (the front of the queue), removing from the queue what is written.

        A refused batch is split in halves, so the rows that are fine are written and a bad one
        ends up alone; ``unavailable`` propagates with the queue still holding what is left."""
        try:
            await self._write_batch(batch)
        except self._unavailable:
            raise
        except Exception as exc:  # the store refused these rows: find the bad one
            if len(batch) > 1:
                half = len(batch) // 2
                await self._write_front(batch[:half])
                await self._write_front(batch[half:])
                return
            await self._write_salvaged(batch[0], exc)
            return
        self._written(len(batch))

    async def _write_salvaged(self, item: T, exc: Exception) -> None:
        reduced = self._salvage(item)
        if reduced is not None:
            try:
                await self._write_batch([reduced])
            except self._unavailable:
                raise
            except Exception as again:  # refused even so: dropped below
                exc = again
            else:
                logger.warning(
                    "%s: one of %s's %s could not be written as it was (%s); "
                    "written without the offending values",
                    self._name,
                    self._describe(item),
                    self._items,
                    short_reason(exc),
                )
                self._written(1)
                return
        self.rejected += 1
        logger.error(
            "%s: one of %s's %s could not be written and is dropped (%s)",
            self._name,
            self._describe(item),
            self._items,
            short_reason(exc),
        )
        self._queue.popleft()

    def _written(self, count: int) -> None:
        for _ in range(count):
            self._queue.popleft()
        if self._recovering:
            self._written_since_failure += count

    def _failed(self, exc: BaseException) -> None:
        reason = short_reason(exc)
        if not self._recovering:
            self._failing_since = time.monotonic()
            logger.error(
                "%s: cannot write (%s); %d %s wait and are retried, up to %d kept",
                self._name,
                reason,
                len(self._queue),
                self._items,
                self._max_backlog,
            )
        self._failing_reason = reason
        self._recovering = True
        self._tries += 1
        self._idle.set()

    def _lose_rest(self) -> None:
        lost = len(self._queue)
        self.dropped += lost
        logger.error(
            "%s: %d %s could not be written within the shutdown's %g s (%s) and are lost",
            self._name,
            lost,
            self._items,
            self._drain_timeout_s,
            self._failing_reason or "writing took too long",
        )
        self._queue.clear()
        self._idle.set()

    async def _back_off(self) -> bool:
        """Wait before the next try; False once a shutdown's drain time is over (what is still
        queued is then lost, and said so)."""
        delay_s = self._retry_delays_s[min(self._tries, len(self._retry_delays_s)) - 1]
        if self._deadline is not None:
            left_s = self._deadline - time.monotonic()
            if left_s <= 0:
                self._lose_rest()
                return False
            delay_s = min(delay_s, left_s)
            await asyncio.sleep(delay_s)
            return True
        with contextlib.suppress(TimeoutError):  # a shutdown cuts the wait short
            await asyncio.wait_for(self._closed.wait(), delay_s)
        return True


__all__ = ["DEFAULT_MAX_BACKLOG", "BatchWriter", "WriterHealth", "short_reason"]

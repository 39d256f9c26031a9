"""The audit log: who did what, when, from where, and how it ended.

``record`` appends to a queue and returns; a background task writes batches, as the event log
writer does, so auditing adds no database round trip to a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from llmrelay.auth.privileges import Principal
from llmrelay.storage import AuditFilter, SecurityStore

logger = logging.getLogger("llmrelay.audit")

AuditOutcome = Literal["success", "failure"]
BATCH_SIZE = 500
FLUSH_INTERVAL_S = 0.5
MAX_QUEUED = 100_000
RETRY_DELAYS_S = (0.1, 0.5, 2.0)


@dataclass(frozen=True)
class AuditEvent:
    id: str
    timestamp: datetime
    action: str
    outcome: AuditOutcome
    user_name: str | None
    auth_type: str | None
    client_address: str | None
    target: str | None
    message: str

    def to_wire(self) -> dict[str, object]:
        """ECS-like, as Elasticsearch's audit log writes it."""
        return {
            "@timestamp": self.timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": {"action": self.action, "outcome": self.outcome},
            "user": {"name": self.user_name} if self.user_name else None,
            "authentication": {"type": self.auth_type} if self.auth_type else None,
            "source": {"address": self.client_address} if self.client_address else None,
            "target": self.target,
            "message": self.message,
        }


class AuditLog:
    def __init__(self, store: SecurityStore) -> None:
        self._store = store
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.dropped = 0

    def record(
        self,
        action: str,
        outcome: AuditOutcome,
        *,
        principal: Principal | None = None,
        user_name: str | None = None,
        client_address: str | None = None,
        target: str | None = None,
        message: str = "",
    ) -> None:
        """Never blocks, never raises. ``message`` must hold no secret."""
        if len(self._queue) >= MAX_QUEUED:
            self.dropped += 1
            if self.dropped in (1, 100, 10_000):
                logger.error("audit queue full: %d audit events dropped so far", self.dropped)
            return
        self._queue.append(
            {
                "id": str(uuid.uuid4()),
                "timestamp": datetime.now(UTC),
                "action": action,
                "outcome": outcome,
                "user_name": principal.name if principal else user_name,
                "auth_type": principal.auth_type if principal else None,
                "client_address": (principal.client_address if principal else None)
                or client_address,
                "target": target,
                "message": message,
            }
        )
        self._idle.clear()
        if len(self._queue) >= BATCH_SIZE:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="llmrelay-audit-writer")

    async def flush(self) -> None:
        self._wake.set()
        await self._idle.wait()

    async def aclose(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self._write_all()

    async def find(
        self, where: AuditFilter, *, page: int, per_page: int
    ) -> tuple[int, list[AuditEvent]]:
        await self.flush()
        total, rows = await self._store.find_audit_events(
            where, offset=(page - 1) * per_page, limit=per_page
        )
        return total, [AuditEvent(**row) for row in rows]

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
                    logger.error("audit: %d events could not be written", len(self._queue))
                    self._queue.clear()
                break
            for _ in batch:
                self._queue.popleft()
        if not self._queue:
            self._idle.set()

    async def _write(self, batch: list[dict[str, Any]]) -> bool:
        for attempt, delay_s in enumerate((0.0, *RETRY_DELAYS_S)):
            if delay_s:
                await asyncio.sleep(delay_s)
            try:
                await self._store.insert_audit_events(batch)
                return True
            except Exception:
                logger.exception(
                    "audit: writing %d events failed (try %d)", len(batch), attempt + 1
                )
        return False

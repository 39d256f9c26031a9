"""The audit log: who did what, when, from where, and how it ended.

``record`` appends to a queue and returns; ``llmrelay.batching.BatchWriter`` writes batches in
the background, as for the event log, so auditing adds no database round trip to a request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from llmrelay.auth.privileges import Principal
from llmrelay.batching import (
    DEFAULT_DRAIN_TIMEOUT_S,
    DEFAULT_MAX_BACKLOG,
    BatchWriter,
    WriterHealth,
)
from llmrelay.errors import StorageUnavailableError
from llmrelay.storage import AuditFilter, SecurityStore, storable_text, time_ordered_id

__all__ = ["AuditEvent", "AuditFilter", "AuditLog"]

AuditOutcome = Literal["success", "failure"]
FLUSH_INTERVAL_S = 0.5
BATCH_SIZE = 500
"""Rows per write, as for events. Each row is made on the event loop (an id, a timestamp: about
2 us), so a batch holds the requests arriving meanwhile for about 1 ms; batches follow one
another with the loop free in between. At 100 rows per write the writer fell behind from about
1,000 executions a second (its backlog grew by 800 rows a second at 2,300), which a SIGKILL then
lost; at 500 it keeps up (``bench/faults.py``)."""
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
    user_id: str | None = None
    forwarded_address: str | None = None

    def to_wire(self) -> dict[str, object]:
        """ECS-like, as Elasticsearch's audit log writes it."""
        return {
            "@timestamp": self.timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": {"action": self.action, "outcome": self.outcome},
            "user": (
                {"name": self.user_name, **({"id": self.user_id} if self.user_id else {})}
                if self.user_name
                else None
            ),
            "authentication": {"type": self.auth_type} if self.auth_type else None,
            "source": {"address": self.client_address} if self.client_address else None,
            "network": (
                {"forwarded_ip": self.forwarded_address} if self.forwarded_address else None
            ),
            "target": self.target,
            "message": self.message,
        }


_Queued = tuple[
    float,
    str,
    AuditOutcome,
    str | None,
    str | None,
    str | None,
    str | None,
    str,
    str | None,
    str | None,
]
"""What ``record`` queues: time (epoch s), action, outcome, user, auth type, peer address,
target, message, user id, forwarded address."""


def _without_nul(record: _Queued) -> _Queued:
    """A record as it can always be stored: PostgreSQL refuses NUL characters in text."""
    at, action, outcome, user, auth_type, address, target, message, user_id, forwarded = record
    return (
        at,
        action,
        outcome,
        storable_text(user),
        storable_text(auth_type),
        storable_text(address),
        storable_text(target),
        storable_text(message) or "",
        user_id,
        storable_text(forwarded),
    )


class AuditLog:
    def __init__(
        self,
        store: SecurityStore,
        *,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
    ) -> None:
        self._store = store
        self._batches: BatchWriter[_Queued] = BatchWriter(
            self._write,
            name="audit",
            items="audit events",
            batch_size=BATCH_SIZE,
            flush_interval_s=FLUSH_INTERVAL_S,
            retry_delays_s=RETRY_DELAYS_S,
            max_backlog=max_backlog,
            drain_timeout_s=drain_timeout_s,
            unavailable=(StorageUnavailableError,),
            salvage=_without_nul,
            describe=lambda record: f"user {record[3] or '(none)'}",
        )

    @property
    def dropped(self) -> int:
        return self._batches.dropped

    def health(self) -> WriterHealth:
        return self._batches.health()

    def record(
        self,
        action: str,
        outcome: AuditOutcome,
        *,
        principal: Principal | None = None,
        user_name: str | None = None,
        client_address: str | None = None,
        forwarded_address: str | None = None,
        target: str | None = None,
        message: str = "",
    ) -> None:
        """Never blocks, never raises. ``message`` must hold no secret.

        Every execution is audited, so this only queues a tuple: the id and the row are made
        by the background writer (building them here cost about 5% of an ``_execute``)."""
        user_id = None
        if principal is not None:
            user_name = principal.name
            user_id = principal.user_id
            client_address = principal.client_address or client_address
            forwarded_address = principal.forwarded_address or forwarded_address
        self._batches.put(
            (
                time.time(),
                action,
                outcome,
                user_name,
                principal.auth_type if principal is not None else None,
                client_address,
                target,
                message,
                user_id,
                forwarded_address,
            )
        )

    async def _write(self, batch: list[_Queued]) -> None:
        await self._store.insert_audit_events(
            [
                {
                    "id": time_ordered_id(at),
                    "timestamp": datetime.fromtimestamp(at, UTC),
                    "action": action,
                    "outcome": outcome,
                    "user_name": user_name,
                    "auth_type": auth_type,
                    "client_address": address,
                    "target": target,
                    "message": message,
                    "user_id": user_id,
                    "forwarded_address": forwarded,
                }
                for (
                    at,
                    action,
                    outcome,
                    user_name,
                    auth_type,
                    address,
                    target,
                    message,
                    user_id,
                    forwarded,
                ) in batch
            ]
        )

    def start(self) -> None:
        self._batches.start()

    async def flush(self) -> None:
        await self._batches.flush()

    async def aclose(self) -> None:
        await self._batches.aclose()

    async def find(
        self, where: AuditFilter, *, page: int, per_page: int
    ) -> tuple[int, list[AuditEvent]]:
        await self.flush()
        total, rows = await self._store.find_audit_events(
            where, offset=(page - 1) * per_page, limit=per_page
        )
        return total, [AuditEvent(**row) for row in rows]

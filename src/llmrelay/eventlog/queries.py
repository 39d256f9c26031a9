"""The read side of the event log."""

from __future__ import annotations

from llmrelay.eventlog.events import ExecutionEvent
from llmrelay.storage import EventStore


class EventLogQueries:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def recent(
        self, *, connector_id: str | None = None, limit: int = 20
    ) -> list[ExecutionEvent]:
        rows = await self._store.newest(connector_id=connector_id, limit=limit)
        return [ExecutionEvent(**row) for row in rows]

"""The read side of the event log: newest executions, and Kibana's paged ``_find``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from llmrelay.errors import BadRequestError
from llmrelay.eventlog.events import ExecutionEvent
from llmrelay.storage import EventFilter, EventStore

MAX_PER_PAGE = 1000
SORT_FIELDS = {
    "@timestamp": "timestamp",
    "event.duration": "duration_ns",
    "kibana.action.execution.gen_ai.usage.total_tokens": "total_tokens",
}
"""Event fields one may sort by, as the API names them, and their columns."""
OUTCOMES = ("success", "failure", "unknown")
"""``unknown``: executions that started and have not finished (``execute-start`` events)."""


@dataclass(frozen=True)
class FindQuery:
    start: datetime | None = None
    end: datetime | None = None
    outcome: str | None = None
    page: int = 1
    per_page: int = 10
    sort_field: str = "@timestamp"
    sort_order: str = "desc"

    def checked(self) -> FindQuery:
        """Refuse what cannot be answered, saying which parameter is wrong and why."""
        if self.start and self.end and self.end < self.start:
            raise BadRequestError(
                f"[end]: {self.end.isoformat()} is before [start] {self.start.isoformat()}"
            )
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise BadRequestError(
                f"[outcome]: must be one of {', '.join(OUTCOMES)}; got [{self.outcome}]"
            )
        if self.page < 1:
            raise BadRequestError(f"[page]: must be 1 or more; got [{self.page}]")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise BadRequestError(
                f"[per_page]: must be between 1 and {MAX_PER_PAGE}; got [{self.per_page}]"
            )
        if self.sort_field not in SORT_FIELDS:
            raise BadRequestError(
                f"[sort]: cannot sort by [{self.sort_field}]; use one of {', '.join(SORT_FIELDS)}"
            )
        if self.sort_order not in ("asc", "desc"):
            raise BadRequestError(f"[sort]: order must be asc or desc; got [{self.sort_order}]")
        return self


@dataclass(frozen=True)
class FindResult:
    page: int
    per_page: int
    total: int
    data: list[ExecutionEvent]


class EventLogQueries:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def recent(
        self, *, connector_id: str | None = None, limit: int = 20
    ) -> list[ExecutionEvent]:
        rows = await self._store.newest(connector_id=connector_id, limit=limit)
        return [ExecutionEvent(**row) for row in rows]

    async def find(self, connector_id: str, query: FindQuery) -> FindResult:
        query = query.checked()
        total, rows = await self._store.find(
            EventFilter(connector_id, query.start, query.end, query.outcome),
            offset=(query.page - 1) * query.per_page,
            limit=query.per_page,
            sort_column=SORT_FIELDS[query.sort_field],
            descending=query.sort_order == "desc",
        )
        return FindResult(query.page, query.per_page, total, [ExecutionEvent(**r) for r in rows])

    async def every(
        self,
        connector_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        outcome: str | None = None,
        rows_per_read: int = 500,
    ) -> AsyncIterator[ExecutionEvent]:
        """All of a connector's matching events, oldest first, read a batch at a time."""
        where = EventFilter(connector_id, start, end, outcome)
        async for row in self._store.iterate(where, batch=rows_per_read):
            yield ExecutionEvent(**row)

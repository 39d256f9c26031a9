"""The events table: written in batches, read newest first.

Rows are plain mappings of column → value; ``llmrelay.eventlog`` owns their meaning.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from llmrelay.storage.db import Database
from llmrelay.storage.rollups import add_to_rollups, delete_rollups_before
from llmrelay.storage.tables import events

MAX_PAGE = 10_000


SORTABLE_COLUMNS = frozenset({"timestamp", "duration_ns", "total_tokens"})


@dataclass(frozen=True)
class EventFilter:
    connector_id: str
    start: datetime | None = None
    end: datetime | None = None
    outcome: str | None = None


class EventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """One transaction for the whole batch, rollups included: written entirely or not at all."""
        if not rows:
            return
        async with self._db.begin() as connection:
            await connection.execute(insert(events), list(rows))
            await add_to_rollups(connection, rows)

    async def newest(self, *, connector_id: str | None, limit: int) -> list[dict[str, Any]]:
        statement = select(events).order_by(events.c.timestamp.desc(), events.c.id.desc())
        if connector_id is not None:
            statement = statement.where(events.c.connector_id == connector_id)
        async with self._db.connect() as connection:
            result = await connection.execute(statement.limit(min(limit, MAX_PAGE)))
            return [dict(row._mapping) for row in result]

    async def find(
        self,
        where: EventFilter,
        *,
        offset: int,
        limit: int,
        sort_column: str = "timestamp",
        descending: bool = True,
    ) -> tuple[int, list[dict[str, Any]]]:
        """One page of a connector's events and how many match in all."""
        if sort_column not in SORTABLE_COLUMNS:
            raise ValueError(f"cannot sort events by {sort_column}")
        conditions = [events.c.connector_id == where.connector_id]
        if where.start is not None:
            conditions.append(events.c.timestamp >= where.start)
        if where.end is not None:
            conditions.append(events.c.timestamp <= where.end)
        if where.outcome is not None:
            conditions.append(events.c.outcome == where.outcome)
        column = events.c[sort_column]
        # NULL (unknown) last both ways: SQLite and PostgreSQL disagree on the default
        order = (column.desc() if descending else column.asc()).nulls_last()
        page = (
            select(events)
            .where(*conditions)
            .order_by(order, events.c.id.desc() if descending else events.c.id.asc())
            .offset(offset)
            .limit(min(limit, MAX_PAGE))
        )
        count = select(func.count()).select_from(events).where(*conditions)
        async with self._db.connect() as connection:
            total = (await connection.execute(count)).scalar_one()
            rows = [dict(row._mapping) for row in await connection.execute(page)]
        return int(total), rows

    async def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        """Delete at most ``limit`` events that started before ``cutoff``; how many went.

        One short transaction per call, so a large backlog never holds the table for long.
        """
        oldest = select(events.c.id).where(events.c.timestamp < cutoff).limit(limit)
        async with self._db.begin() as connection:
            result = await connection.execute(
                delete(events).where(events.c.id.in_(oldest.scalar_subquery()))
            )
            # the dashboard's hourly sums of those events go with them (whole hours only)
            await delete_rollups_before(connection, cutoff)
        return int(result.rowcount or 0)

    async def iterate(self, where: EventFilter, *, batch: int) -> AsyncIterator[dict[str, Any]]:
        """Every matching event, oldest first, read ``batch`` rows at a time (keyset paging:
        memory stays bounded and no query holds a transaction open between batches)."""
        conditions = [events.c.connector_id == where.connector_id]
        if where.start is not None:
            conditions.append(events.c.timestamp >= where.start)
        if where.end is not None:
            conditions.append(events.c.timestamp <= where.end)
        if where.outcome is not None:
            conditions.append(events.c.outcome == where.outcome)
        after: tuple[datetime, str] | None = None
        while True:
            statement = select(events).where(*conditions)
            if after is not None:
                statement = statement.where(
                    (events.c.timestamp > after[0])
                    | ((events.c.timestamp == after[0]) & (events.c.id > after[1]))
                )
            statement = statement.order_by(events.c.timestamp, events.c.id).limit(batch)
            async with self._db.connect() as connection:
                rows = [dict(row._mapping) for row in await connection.execute(statement)]
            for row in rows:
                yield row
            if len(rows) < batch:
                return
            after = (rows[-1]["timestamp"], rows[-1]["id"])

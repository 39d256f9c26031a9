"""The events table: written in batches, read newest first.

Rows are plain mappings of column → value, or tuples with their column names given once;
``llmrelay.eventlog`` owns their meaning.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select

from llmrelay.storage.db import Database
from llmrelay.storage.prepared import PreparedBatch, bind_converters, converted
from llmrelay.storage.rollups import (
    RollupUpserts,
    Summary,
    delete_rollups_before,
    finished_starts,
    summarise,
)
from llmrelay.storage.tables import events

MAX_PAGE = 10_000


SORTABLE_COLUMNS = frozenset({"timestamp", "duration_ns", "total_tokens"})

ROWS_PER_STATEMENT = 40
"""Rows per multi-row ``INSERT``: 40 x 20 columns stays under SQLite's oldest limit of 999
parameters, and SQLite steps (and takes Python's GIL back) once per statement, not once per row.
The rows left over (fewer than 40) go one per statement: compiling a statement for each count
cost the event loop up to 40 compilations of 800 parameters (3% of its time in a 10 s benchmark,
where each new count appeared); now two statements are compiled, once."""


@dataclass(frozen=True)
class EventFilter:
    connector_id: str
    start: datetime | None = None
    end: datetime | None = None
    outcome: str | None = None


class _InsertShape:
    """How rows with given columns become a multi-row INSERT: compiled once, reused per batch.

    The table's column order (which the compiled statement follows) need not be the caller's,
    so ``order`` picks a row's values in the statement's order; ``converting`` lists the
    positions whose column type converts values for the driver (``UtcDateTime``, ``Boolean``).
    """

    def __init__(self, columns: tuple[str, ...], db: Database) -> None:
        names = [column.name for column in events.c if column.name in columns]
        if len(names) != len(columns):
            raise ValueError(f"not columns of events: {sorted(set(columns) - set(names))}")
        self.names = names
        self.order: Callable[[Sequence[Any]], Sequence[Any]] = operator.itemgetter(
            *(columns.index(name) for name in names)
        )
        self.converting = bind_converters(db.engine.dialect, [events.c[n].type for n in names])
        self._statements: dict[int, str] = {}

    def statement(self, db: Database, count: int) -> str:
        """``INSERT INTO events (...) VALUES (...), (...)`` for ``count`` rows, in the dialect's
        own quoting and parameter style."""
        sql = self._statements.get(count)
        if sql is None:
            rows: list[dict[str, Any]] = [
                {c: bindparam(f"{c}_{n}") for c in self.names} for n in range(count)
            ]
            compiled = insert(events).values(rows).compile(dialect=db.engine.dialect)
            expected = [f"{c}_{n}" for n in range(count) for c in self.names]
            if list(compiled.positiontup or ()) != expected:  # pragma: no cover - a dialect change
                raise RuntimeError("unexpected parameter order in the events INSERT")
            sql = self._statements[count] = str(compiled)
        return sql


class EventStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._shapes: dict[tuple[str, ...], _InsertShape] = {}
        self._delete: str | None = None
        self._rollups: RollupUpserts | None = None

    async def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """One transaction for the whole batch, rollups included: written entirely or not at all."""
        if rows:
            columns = tuple(rows[0])
            await self.insert_rows(columns, [tuple(row[c] for c in columns) for row in rows])

    async def insert_rows(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        replacing_starts: Sequence[tuple[str, str, datetime]] = (),
    ) -> None:
        """Like ``insert_many``, each row giving the values of ``columns`` in that order.

        ``replacing_starts`` names (id, connector id, start time) of stored ``execute-start``
        rows that rows of this batch replace: they are deleted first, in the same transaction,
        and no longer counted as unfinished in the rollups.

        The event log's path: SQLAlchemy's per-row parameter handling cost about 14 us of the
        event loop's time per event; here only the column types that have a bind processor
        (timestamps, booleans) convert values, and the driver gets ``ROWS_PER_STATEMENT`` rows
        per statement (the rest one by one, in one ``executemany``).
        """
        if not rows:
            return
        shape = self._shape(tuple(columns))
        statements: PreparedBatch = []
        if replacing_starts:
            statements.append((self._delete_sql(), [(start[0],) for start in replacing_starts]))
        whole = len(rows) - len(rows) % ROWS_PER_STATEMENT
        many: list[tuple[Any, ...]] = []
        single: list[tuple[Any, ...]] = []
        summary = Summary({}, {})
        finished_starts(replacing_starts, into=summary)
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            parameters = [converted(shape.order(row), shape.converting) for row in chunk]
            if start < whole:
                many.append(tuple(value for row in parameters for value in row))
            else:
                single.extend(tuple(row) for row in parameters)
            summarise((dict(zip(columns, row, strict=True)) for row in chunk), into=summary)
            # a slice costs the event loop about half a millisecond: let requests in between
            await asyncio.sleep(0)
        if many:
            statements.append((shape.statement(self._db, ROWS_PER_STATEMENT), many))
        if single:
            statements.append((shape.statement(self._db, 1), single))
        # the dashboard's hourly sums, in the same transaction as the events they count
        if self._rollups is None:
            self._rollups = RollupUpserts(self._db)
        statements += self._rollups.statements(summary)
        await self._db.write_prepared(statements)

    def _delete_sql(self) -> str:
        if self._delete is None:
            statement = delete(events).where(events.c.id == bindparam("id"))
            self._delete = str(statement.compile(dialect=self._db.engine.dialect))
        return self._delete

    def _shape(self, columns: tuple[str, ...]) -> _InsertShape:
        shape = self._shapes.get(columns)
        if shape is None:
            shape = self._shapes[columns] = _InsertShape(columns, self._db)
        return shape

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

"""Statements compiled once into the driver's own SQL, and rows turned into its parameters.

The batch writers (events with their rollups, audit events) hand the database finished SQL and
parameter tuples (``Database.write_prepared``), so the work done per batch away from the event
loop is the driver's alone: no SQLAlchemy on that thread, where its Python would compete with
the loop for the GIL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import TypeEngine

from llmrelay.storage.db import Database

PreparedBatch = list[tuple[str, list[tuple[Any, ...]]]]
"""Statements to run in one transaction: driver SQL, each with its rows of parameters."""

Converting = list[tuple[int, Callable[[Any], Any]]]
"""The positions whose values a column type converts for the driver, with the converter."""


def storable_text(text: str | None) -> str | None:
    """``text`` as every database takes it: PostgreSQL refuses NUL characters in text (what
    the batch writers' salvage of a refused row strips)."""
    return None if text is None else text.replace("\x00", "")


def bind_converters(dialect: Dialect, types: Sequence[TypeEngine[Any]]) -> Converting:
    """The converters of the columns of ``types`` (in that order) that have one.

    The dialect's own processors (``dialect_impl``), as SQLAlchemy's insert uses them: the
    generic type's would leave SQLite's timestamps in another text form, which then no longer
    compare equal to bound values (keyset paging and time ranges broke on it).
    """
    converters = [type_.dialect_impl(dialect).bind_processor(dialect) for type_ in types]
    return [(i, c) for i, c in enumerate(converters) if c is not None]


def converted(values: Sequence[Any], converting: Converting) -> Sequence[Any]:
    """``values`` as the driver takes them (the same sequence when nothing converts)."""
    if not converting:
        return values
    result = list(values)
    for i, convert in converting:
        result[i] = convert(result[i])
    return result


class PreparedStatement:
    """``statement`` compiled for ``db``'s dialect, with the converters its columns need."""

    def __init__(self, db: Database, statement: ClauseElement) -> None:
        dialect = db.engine.dialect
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = str(compiled)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        if set(self.names) != set(compiled.binds):  # pragma: no cover - a dialect change
            raise RuntimeError(f"unexpected parameters in {self.sql}")
        self._converting = bind_converters(
            dialect, [compiled.binds[name].type for name in self.names]
        )

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's parameters for one row, converted as SQLAlchemy would (timestamps)."""
        return tuple(converted([row[name] for name in self.names], self._converting))

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[tuple[Any, ...]]]:
        """This statement with the parameters of each of ``rows`` (run as one executemany)."""
        return self.sql, [self.parameters(row) for row in rows]

    async def rows_in_slices(
        self, rows: Sequence[Mapping[str, Any]], per_slice: int = 50
    ) -> tuple[str, list[tuple[Any, ...]]]:
        """``rows``, made ``per_slice`` rows at a time with the event loop let through in between: a
        batch of hundreds of rows must not hold up requests for milliseconds."""
        parameters: list[tuple[Any, ...]] = []
        for start in range(0, len(rows), per_slice):
            parameters += [self.parameters(row) for row in rows[start : start + per_slice]]
            await asyncio.sleep(0)
        return self.sql, parameters


__all__ = [
    "Converting",
    "PreparedBatch",
    "PreparedStatement",
    "bind_converters",
    "converted",
    "storable_text",
]

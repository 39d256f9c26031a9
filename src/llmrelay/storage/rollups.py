"""Hourly rollups of the events table, kept so the usage dashboard never scans a month of events.

Two tables, both maintained in the transaction that writes a batch of events
(:meth:`EventStore.insert_many`), so a rollup never disagrees with the events it summarises:

- ``event_rollups``: per connector, UTC hour and model: executions, failures, token sums,
  executions with estimated counts and executions with unknown counts. Sums are exact.
- ``event_latency_rollups``: per connector and UTC hour, a histogram of ``duration_ns`` in
  logarithmic bins (:data:`BINS_PER_DOUBLING` per doubling, from 1 µs). A percentile read from it
  is within :data:`LATENCY_RELATIVE_ERROR` of the exact nearest-rank percentile.

Hours are stored as epoch seconds (``hour_s``), so bucketing is integer arithmetic that reads the
same on SQLite and PostgreSQL. The bin function must never change without a migration that
rebuilds the histograms: stored counts would otherwise mean other durations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from llmrelay.storage.db import Database
from llmrelay.storage.prepared import PreparedBatch, PreparedStatement
from llmrelay.storage.tables import event_latency_rollups, event_rollups, events

HOUR_S = 3600
BINS_PER_DOUBLING = 8
LATENCY_RELATIVE_ERROR = 2 ** (1 / (2 * BINS_PER_DOUBLING)) - 1
"""Half a bin in log space: 4.43 %. A value inside a bin is at most this far from its midpoint."""
ALL_CONNECTORS = ""
"""The latency histogram of every connector together is also stored, under this id (which no
connector can have): summing the per-connector histograms of a month took 100 ms on SQLite."""
UNKNOWN_MODEL = ""
"""Stored for events without a model: a primary-key column cannot be NULL on PostgreSQL."""
COUNTERS = (
    "executions",
    "failures",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "estimated",
    "unknown_usage",
    "unfinished",
)
START_ACTION = "execute-start"
"""The ``action`` of an execution's first event; its ``execute`` event replaces it."""


def latency_bin(duration_ns: int) -> int:
    """Bin ``b`` holds durations in [1 µs·2^(b/8), 1 µs·2^((b+1)/8)); under 1 µs goes to bin 0."""
    micros = max(duration_ns / 1000, 1.0)
    return math.floor(math.log2(micros) * BINS_PER_DOUBLING)


def bin_midpoint_ns(latency_bin: int) -> float:
    """The geometric middle of a bin: what a percentile falling in it is reported as."""
    return 1000.0 * 2 ** ((latency_bin + 0.5) / BINS_PER_DOUBLING)


def hour_of(timestamp: datetime) -> int:
    return int(timestamp.timestamp()) // HOUR_S * HOUR_S


@dataclass
class Counts:
    executions: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    estimated: int = 0
    unknown_usage: int = 0
    unfinished: int = 0
    """``execute-start`` events not replaced by their ``execute`` event (yet)."""

    def add_event(self, row: Mapping[Any, Any]) -> None:
        if row.get("action") == START_ACTION:
            self.unfinished += 1
            return
        self.executions += 1
        if row["outcome"] == "failure":
            self.failures += 1
        self.prompt_tokens += row["prompt_tokens"] or 0
        self.completion_tokens += row["completion_tokens"] or 0
        self.total_tokens += row["total_tokens"] or 0
        if row["usage_estimated"]:
            self.estimated += 1
        if row["total_tokens"] is None:
            self.unknown_usage += 1

    def add(self, other: Mapping[Any, Any] | Counts) -> None:
        for name in COUNTERS:
            value = getattr(other, name) if isinstance(other, Counts) else other[name]
            setattr(self, name, getattr(self, name) + int(value or 0))


@dataclass
class Summary:
    """Events summarised by key: ``counts[(connector_id, bucket_s, model)]`` and
    ``latency[(connector_id, bucket_s, bin)]`` (executions per bin)."""

    counts: dict[tuple[str, int, str], Counts]
    latency: dict[tuple[str, int, int], int]


def summarise(
    rows: Iterable[Mapping[Any, Any]], bucket_s: int = HOUR_S, into: Summary | None = None
) -> Summary:
    """Aggregate raw event rows into epoch-aligned buckets of ``bucket_s`` seconds (added to
    ``into`` when given, so a large batch can be summed a slice at a time)."""
    summary = Summary({}, {}) if into is None else into
    for row in rows:
        bucket = int(row["timestamp"].timestamp()) // bucket_s * bucket_s
        key = (row["connector_id"], bucket, row["model"] or UNKNOWN_MODEL)
        counts = summary.counts.get(key)
        if counts is None:
            counts = summary.counts[key] = Counts()
        counts.add_event(row)
        if row.get("action") == START_ACTION:
            continue
        latency_key = (row["connector_id"], bucket, latency_bin(row["duration_ns"]))
        summary.latency[latency_key] = summary.latency.get(latency_key, 0) + 1
    return summary


def finished_starts(starts: Iterable[tuple[str, str, datetime]], *, into: Summary) -> None:
    """Count (id, connector id, start time) of stored ``execute-start`` rows being replaced
    as no longer unfinished: a start row has no model, so it was counted under the unknown one."""
    for _, connector_id, timestamp in starts:
        key = (connector_id, hour_of(timestamp), UNKNOWN_MODEL)
        into.counts.setdefault(key, Counts()).unfinished -= 1


def _upsert(db: Database, table: Any, keys: Sequence[str]) -> PreparedStatement:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` adding every other column to the stored sums."""
    dialect = postgresql if db.dialect_name == "postgresql" else sqlite
    statement = dialect.insert(table)
    values = [c.name for c in table.columns if c.name not in keys]
    return PreparedStatement(
        db,
        statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: table.c[name] + statement.excluded[name] for name in values},
        ),
    )


def rollup_parameters(summary: Summary) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for the two tables, sorted by key so concurrent writers lock in the same order."""
    counts = [
        {"connector_id": c, "hour_s": h, "model": m, **vars(v)}
        for (c, h, m), v in sorted(summary.counts.items())
    ]
    overall: dict[tuple[str, int, int], int] = {}
    for (_, h, b), n in summary.latency.items():
        overall[(ALL_CONNECTORS, h, b)] = overall.get((ALL_CONNECTORS, h, b), 0) + n
    latency = [
        {"connector_id": c, "hour_s": h, "bin": b, "executions": n}
        for (c, h, b), n in sorted([*overall.items(), *summary.latency.items()])
    ]
    return counts, latency


class RollupUpserts:
    """The two upserts that fold new events into the rollups, compiled once for one database's
    dialect and kept by the store that writes there (never in a module global: two databases
    of different kinds may live in one process)."""

    def __init__(self, db: Database) -> None:
        self._upserts = (
            _upsert(db, event_rollups, ("connector_id", "hour_s", "model")),
            _upsert(db, event_latency_rollups, ("connector_id", "hour_s", "bin")),
        )

    def statements(self, summary: Summary) -> PreparedBatch:
        """What folds a batch of new events (``summarise``d) into the rollups; run it in the
        events' transaction."""
        counts, latency = rollup_parameters(summary)
        return [
            upsert.rows(parameters)
            for upsert, parameters in zip(self._upserts, (counts, latency), strict=True)
            if parameters
        ]


async def delete_rollups_before(connection: AsyncConnection, before: datetime) -> None:
    """For retention: drop the hours that end at or before ``before``, in the caller's
    transaction (the one deleting the events). The hour holding ``before`` is kept: it still
    sums events from after the cut-off."""
    cutoff = hour_of(before)
    for table in (event_rollups, event_latency_rollups):
        await connection.execute(delete(table).where(table.c.hour_s < cutoff))


_RAW_COLUMNS = (
    events.c.action,
    events.c.timestamp,
    events.c.connector_id,
    events.c.model,
    events.c.outcome,
    events.c.duration_ns,
    events.c.prompt_tokens,
    events.c.completion_tokens,
    events.c.total_tokens,
    events.c.usage_estimated,
)


class UsageStore:
    """Reads for the dashboard: whole hours from the rollups, the rest from indexed raw rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def summary(
        self, connector_id: str | None, start: datetime, end: datetime, bucket_s: int
    ) -> Summary:
        """Everything in [start, end), bucketed by ``bucket_s`` (aligned to the epoch).

        A bucket of a whole number of hours that divides a day can use the rollups: hours lying
        wholly inside the range come from them, the partial hours at either edge from raw rows.
        Finer buckets are computed from raw rows alone.
        """
        first_hour = -(-int(start.timestamp()) // HOUR_S) * HOUR_S
        last_hour = int(end.timestamp()) // HOUR_S * HOUR_S
        use_rollups = bucket_s % HOUR_S == 0 and first_hour < last_hour
        async with self._db.connect() as connection:
            if not use_rollups:
                return await self._raw(connection, connector_id, start, end, bucket_s)
            summary = await self._raw(
                connection,
                connector_id,
                start,
                datetime.fromtimestamp(first_hour, start.tzinfo),
                bucket_s,
            )
            tail = await self._raw(
                connection,
                connector_id,
                datetime.fromtimestamp(last_hour, end.tzinfo),
                end,
                bucket_s,
            )
            _merge(summary, tail)
            await self._from_rollups(
                connection, summary, connector_id, first_hour, last_hour, bucket_s
            )
            return summary

    async def _raw(
        self,
        connection: AsyncConnection,
        connector_id: str | None,
        start: datetime,
        end: datetime,
        bucket_s: int,
    ) -> Summary:
        if start >= end:
            return Summary({}, {})
        statement = select(*_RAW_COLUMNS).where(
            events.c.timestamp >= start, events.c.timestamp < end
        )
        if connector_id is not None:
            statement = statement.where(events.c.connector_id == connector_id)
        result = await connection.execute(statement)
        return summarise((row._mapping for row in result), bucket_s)

    async def _from_rollups(
        self,
        connection: AsyncConnection,
        summary: Summary,
        connector_id: str | None,
        first_hour: int,
        last_hour: int,
        bucket_s: int,
    ) -> None:
        def bucketed(
            table: Any, *group: Any, sums: Sequence[str], only: str | None = connector_id
        ) -> Select[Any]:
            bucket = (table.c.hour_s // literal(bucket_s)) * literal(bucket_s)
            statement = (
                select(
                    table.c.connector_id,
                    bucket.label("bucket_s"),
                    *group,
                    *(func.sum(table.c[name]).label(name) for name in sums),
                )
                .where(table.c.hour_s >= first_hour, table.c.hour_s < last_hour)
                .group_by(table.c.connector_id, bucket, *group)
            )
            if only is not None:
                statement = statement.where(table.c.connector_id == only)
            return statement

        counts = bucketed(event_rollups, event_rollups.c.model, sums=COUNTERS)
        found = summary.counts
        for connector, bucket, model, *values in await connection.execute(counts):
            key = (connector, int(bucket), model)
            figures = Counts(*map(int, values))
            if key in found:
                found[key].add(figures)
            else:
                found[key] = figures
        latency = bucketed(
            event_latency_rollups,
            event_latency_rollups.c.bin,
            sums=("executions",),
            only=ALL_CONNECTORS if connector_id is None else connector_id,
        )
        histogram = summary.latency
        for connector, bucket, latency_bin, n in await connection.execute(latency):
            latency_key = (connector, int(bucket), int(latency_bin))
            histogram[latency_key] = histogram.get(latency_key, 0) + int(n)

    async def newest(
        self, connector_id: str | None, start: datetime, end: datetime, limit: int
    ) -> list[dict[str, Any]]:
        statement = (
            select(events)
            .where(events.c.timestamp >= start, events.c.timestamp < end)
            .order_by(events.c.timestamp.desc(), events.c.id.desc())
            .limit(limit)
        )
        if connector_id is not None:
            statement = statement.where(events.c.connector_id == connector_id)
        async with self._db.connect() as connection:
            return [dict(row._mapping) for row in await connection.execute(statement)]


def _merge(into: Summary, other: Summary) -> None:
    for key, counts in other.counts.items():
        into.counts.setdefault(key, Counts()).add(counts)
    for latency_key, n in other.latency.items():
        into.latency[latency_key] = into.latency.get(latency_key, 0) + n

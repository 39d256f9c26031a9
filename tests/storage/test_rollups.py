"""The dashboard's rollups, on SQLite and PostgreSQL: what is summed must equal the raw events."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from llmrelay.storage import Database, EventStore, UsageStore
from llmrelay.storage.db import _alembic_config
from llmrelay.storage.rollups import (
    LATENCY_RELATIVE_ERROR,
    Counts,
    bin_midpoint_ns,
    delete_rollups_before,
    rollup_parameters,
    summarise,
)
from llmrelay.storage.tables import event_latency_rollups, event_rollups, events

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def event(at: datetime, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "timestamp": at,
        "end": at,
        "duration_ns": 1_000_000,
        "action": "execute",
        "outcome": "success",
        "connector_id": "a",
        "connector_name": "A",
        "connector_type_id": ".gen-ai",
        "sub_action": "run",
        "provider": "OpenAI",
        "model": "gpt-4o",
        "source": "library",
        "user_name": None,
        "message": "action executed",
        "error_message": None,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "usage_estimated": False,
    }
    row.update(fields)
    return row


def history(rng: random.Random, count: int = 400) -> list[dict[str, Any]]:
    """Events over 3 days from T0 on two connectors and three models (one unknown)."""
    rows = []
    for n in range(count):
        at = T0 + timedelta(seconds=rng.uniform(0, 3 * 86400))
        failed = rng.random() < 0.1
        prompt, completion = rng.randint(1, 500), rng.randint(1, 200)
        rows.append(
            event(
                at,
                connector_id=rng.choice(("a", "b")),
                model=rng.choice(("gpt-4o", "gpt-4o-mini", None)),
                outcome="failure" if failed else "success",
                duration_ns=int(rng.lognormvariate(math.log(5e8), 1.0)),
                prompt_tokens=None if failed else prompt,
                completion_tokens=None if failed else completion,
                total_tokens=None if failed else prompt + completion,
                usage_estimated=None if failed else n % 4 == 0,
            )
        )
    rows.sort(key=lambda r: r["timestamp"])
    return rows


def expected(
    rows: list[dict[str, Any]], connector: str | None, start: datetime, end: datetime, bucket_s: int
) -> dict[int, Counts]:
    per_bucket: dict[int, Counts] = {}
    for row in rows:
        if start <= row["timestamp"] < end and connector in (None, row["connector_id"]):
            bucket = int(row["timestamp"].timestamp()) // bucket_s * bucket_s
            per_bucket.setdefault(bucket, Counts()).add_event(row)
    return per_bucket


def by_bucket(counts: dict[tuple[str, int, str], Counts]) -> dict[int, Counts]:
    merged: dict[int, Counts] = {}
    for (_, bucket, _), c in counts.items():
        merged.setdefault(bucket, Counts()).add(c)
    return merged


async def test_rollups_and_raw_edges_give_exact_sums(database: Database) -> None:
    rows = history(random.Random(1))
    store = EventStore(database)
    for i in range(0, len(rows), 70):  # batches share hours: the upsert must add, not replace
        await store.insert_many(rows[i : i + 70])
    usage = UsageStore(database)
    start = T0 + timedelta(hours=5, minutes=17, seconds=3)  # not on an hour: raw edges
    end = T0 + timedelta(days=2, hours=7, minutes=41)
    for connector in (None, "a"):
        for bucket_s in (3600, 6 * 3600, 86400):
            summary = await usage.summary(connector, start, end, bucket_s)
            assert by_bucket(summary.counts) == expected(rows, connector, start, end, bucket_s)
    fine = await usage.summary("b", start, start + timedelta(hours=3), 600)
    assert by_bucket(fine.counts) == expected(rows, "b", start, start + timedelta(hours=3), 600)


async def test_latency_histogram_counts_every_execution_and_percentiles_hold(
    database: Database,
) -> None:
    rows = history(random.Random(2))
    await EventStore(database).insert_many(rows)
    summary = await UsageStore(database).summary(None, T0, T0 + timedelta(days=3), 86400)
    histogram: dict[int, int] = {}
    for (_, _, latency_bin), n in summary.latency.items():
        histogram[latency_bin] = histogram.get(latency_bin, 0) + n
    assert sum(histogram.values()) == len(rows)
    durations = sorted(r["duration_ns"] for r in rows)
    for quantile in (0.5, 0.95):
        rank = math.ceil(quantile * len(durations))
        exact = durations[rank - 1]
        seen = 0
        for latency_bin in sorted(histogram):
            seen += histogram[latency_bin]
            if seen >= rank:
                estimate = bin_midpoint_ns(latency_bin)
                break
        assert abs(estimate / exact - 1) <= LATENCY_RELATIVE_ERROR + 1e-9


async def test_newest_keeps_to_the_range_and_connector(database: Database) -> None:
    rows = history(random.Random(3), 60)
    await EventStore(database).insert_many(rows)
    start, end = T0 + timedelta(days=1), T0 + timedelta(days=2)
    newest = await UsageStore(database).newest("a", start, end, 5)
    wanted = [r for r in rows if r["connector_id"] == "a" and start <= r["timestamp"] < end]
    assert [r["id"] for r in newest] == [r["id"] for r in wanted[::-1][:5]]


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(_alembic_config(connection), revision)


async def test_the_migration_rolls_up_the_events_already_stored(database_url: str) -> None:
    rows = history(random.Random(4), 150)
    async with Database(database_url) as db:
        async with db.begin() as connection:
            await connection.run_sync(_upgrade, "0002")
            await connection.execute(insert(events), rows)
        await db.upgrade()
        async with db.connect() as connection:
            stored = {
                (r.connector_id, r.hour_s, r.model): r.executions
                for r in await connection.execute(select(event_rollups))
            }
            histogram_total = (
                await connection.execute(select(func.sum(event_latency_rollups.c.executions)))
            ).scalar_one()
    counts, _ = rollup_parameters(summarise(rows))
    assert stored == {(c["connector_id"], c["hour_s"], c["model"]): c["executions"] for c in counts}
    assert histogram_total == 2 * len(rows)  # per connector, and once more for all connectors


async def test_retention_drops_whole_hours_before_the_cut_off(database: Database) -> None:
    rows = [event(T0 + timedelta(minutes=m)) for m in (10, 70, 130, 190)]
    await EventStore(database).insert_many(rows)
    async with database.begin() as connection:
        await delete_rollups_before(connection, T0 + timedelta(minutes=150))
    async with database.connect() as connection:
        hours = sorted(r.hour_s for r in await connection.execute(select(event_rollups)))
        latency_hours = {r.hour_s for r in await connection.execute(select(event_latency_rollups))}
    first_kept = int((T0 + timedelta(hours=2)).timestamp())
    assert hours == [first_kept, first_kept + 3600]
    assert latency_hours == {first_kept, first_kept + 3600}


async def test_a_batch_that_fails_leaves_neither_its_events_nor_its_sums(
    database: Database,
) -> None:
    """The batch writer retries a failed batch whole, so half of one must never be stored."""
    store = EventStore(database)
    first = event(T0)
    await store.insert_many([first])
    again = [event(T0 + timedelta(minutes=1)), {**first}]  # the second repeats an id
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await store.insert_many(again)
    async with database.connect() as connection:
        stored = (await connection.execute(select(func.count()).select_from(events))).scalar()
        executions = (
            await connection.execute(select(func.sum(event_rollups.c.executions)))
        ).scalar()
    assert (stored, executions) == (1, 1)
    await store.insert_many([event(T0 + timedelta(minutes=2))])  # and the writer goes on
    async with database.connect() as connection:
        stored = (await connection.execute(select(func.count()).select_from(events))).scalar()
    assert stored == 2


async def test_a_start_row_counts_as_unfinished_until_its_finish_replaces_it(
    database: Database,
) -> None:
    """Whole hours come from the rollups: the start is counted there, then moved, exactly."""
    store = EventStore(database)
    usage = UsageStore(database)
    at = T0 + timedelta(minutes=30)
    start = event(at, action="execute-start", outcome="unknown", model=None, duration_ns=0)
    start.update(prompt_tokens=None, completion_tokens=None, total_tokens=None)
    await store.insert_many([start])
    day = (T0, T0 + timedelta(days=1))
    [counts] = by_bucket((await usage.summary(None, *day, 86400)).counts).values()
    assert (counts.executions, counts.unfinished, counts.unknown_usage) == (0, 1, 0)
    finish = event(at, id=start["id"])
    columns = tuple(finish)
    await store.insert_rows(
        columns,
        [tuple(finish[c] for c in columns)],
        replacing_starts=[(start["id"], start["connector_id"], at)],
    )
    [counts] = by_bucket((await usage.summary(None, *day, 86400)).counts).values()
    assert (counts.executions, counts.unfinished, counts.total_tokens) == (1, 0, 15)
    async with database.connect() as connection:
        stored = (await connection.execute(select(events.c.action))).scalars().all()
    assert stored == ["execute"]

"""The writer: batched in the background, nothing lost on a clean shutdown, failures retried."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from llmrelay.errors import StorageUnavailableError
from llmrelay.eventlog import EventLogQueries, EventLogWriter, ExecutionEvent
from llmrelay.storage import Database, EventStore
from tests.components import fresh_postgres_database


def event(number: int, connector_id: str = "c1") -> ExecutionEvent:
    moment = datetime(2026, 1, 1, 0, 0, number % 60, tzinfo=UTC)
    return ExecutionEvent(
        id=f"00000000-0000-0000-0000-{number:012d}",
        timestamp=moment,
        end=moment,
        duration_ns=1_000_000,
        outcome="success",
        connector_id=connector_id,
        connector_name="name",
        connector_type_id=".gen-ai",
        sub_action="run",
        source="library",
        message="action executed: .gen-ai:c1: name",
        prompt_tokens=3,
        completion_tokens=None,
        total_tokens=None,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The same tests on both databases (``end`` is a reserved word in PostgreSQL)."""
    if request.param == "sqlite":
        async with Database(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}") as db:
            await db.upgrade()
            yield EventStore(db)
        return
    async with fresh_postgres_database() as url, Database(url) as db:
        await db.upgrade()
        yield EventStore(db)


async def test_events_accepted_before_a_clean_shutdown_are_all_written(store: EventStore) -> None:
    writer = EventLogWriter(store)
    writer.start()
    for number in range(1234):
        writer.record(event(number))
    await writer.aclose()
    found = await EventLogQueries(store).recent(limit=5000)
    assert len(found) == 1234
    assert found[0].prompt_tokens == 3
    assert found[0].completion_tokens is None  # unknown stays unknown, never 0


async def test_flush_makes_recorded_events_readable(store: EventStore) -> None:
    writer = EventLogWriter(store)
    writer.start()
    writer.record(event(1, "a"))
    writer.record(event(2, "b"))
    await writer.flush()
    assert [e.connector_id for e in await EventLogQueries(store).recent(connector_id="b")] == ["b"]
    await writer.aclose()


class FlakyStore(EventStore):
    """Fails the first write, like a database that restarts."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.failures_left = 1

    async def insert_rows(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], **kwargs: Any
    ) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise StorageUnavailableError("database went away")
        await self.inner.insert_rows(columns, rows, **kwargs)


async def test_a_failed_write_is_retried_and_logged(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    writer = EventLogWriter(FlakyStore(store))
    writer.start()
    writer.record(event(7))
    with caplog.at_level(logging.INFO, logger="llmrelay.batching"):
        await writer.flush()
        await writer.aclose()
    assert len(await EventLogQueries(store).recent()) == 1
    assert "event log: cannot write (database went away); 1 events wait" in caplog.text
    assert "event log: writing works again after" in caplog.text


async def test_rows_in_any_column_order_and_mappings_are_stored_alike(store: EventStore) -> None:
    """85 rows: two full multi-row INSERTs and five rows left over, on both databases."""
    columns = ("usage_estimated", "id", "end", *sorted(ExecutionEvent.__dataclass_fields__))
    columns = tuple(dict.fromkeys(columns))  # the odd order first, each column once
    rows = [tuple(getattr(event(n), c) for c in columns) for n in range(85)]
    await store.insert_rows(columns, rows)
    await store.insert_many([{c: getattr(event(n), c) for c in columns} for n in range(85, 90)])
    found = await EventLogQueries(store).recent(limit=100)
    assert len(found) == 90
    assert {e.id for e in found} == {event(n).id for n in range(90)}
    first = next(e for e in found if e.id == event(1).id)
    assert first == event(1)


async def test_a_row_the_database_refuses_is_written_without_its_values_and_holds_back_nothing(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Counts that bypassed the check at the source (2^63 overflows SQLite's and PostgreSQL's
    64-bit integers; a NUL is refused by PostgreSQL): the rows around them are written, the bad
    rows are written without token counts (flagged), with one warning naming the connector."""
    writer = EventLogWriter(store)
    writer.start()
    poisoned = dataclasses.replace(
        event(500, "poisoned"), prompt_tokens=2**63, model="gpt\x00-4o", total_tokens=2**64
    )
    for number in range(1000):
        writer.record(poisoned if number == 500 else event(number, f"c{number % 7}"))
    with caplog.at_level(logging.WARNING, logger="llmrelay.batching"):
        started = time.monotonic()
        await writer.flush()
        took_s = time.monotonic() - started
    await writer.aclose()
    assert took_s < 5
    found = await EventLogQueries(store).recent(limit=2000)
    assert len(found) == 1000
    [stored] = [e for e in found if e.connector_id == "poisoned"]
    assert (stored.prompt_tokens, stored.total_tokens, stored.usage_invalid) == (None, None, True)
    assert stored.model == "gpt-4o"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "event log: one of connector poisoned's events could not be written as it was" in (
        warnings[0].getMessage()
    )
    assert "written without the offending values" in warnings[0].getMessage()


async def test_a_clean_shutdown_with_a_poisoned_batch_queued_is_prompt(store: EventStore) -> None:
    writer = EventLogWriter(store)
    writer.start()
    for number in range(5000):
        bad = number % 1000 == 0
        writer.record(dataclasses.replace(event(number), prompt_tokens=2**63 if bad else 3))
    started = time.monotonic()
    await writer.aclose()
    assert time.monotonic() - started < 5
    assert len(await EventLogQueries(store).recent(limit=10_000)) == 5000


class DownStore(EventStore):
    """A database that never comes back."""

    def __init__(self) -> None:
        pass

    async def insert_rows(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], **kwargs: Any
    ) -> None:
        raise StorageUnavailableError("cannot connect to the PostgreSQL database")


async def test_a_clean_shutdown_gives_up_after_the_drain_timeout_and_counts_the_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = EventLogWriter(DownStore(), drain_timeout_s=0.5)
    writer.start()
    for number in range(2000):
        writer.record(event(number))
    started = time.monotonic()
    await writer.aclose()
    assert time.monotonic() - started < 1.5
    assert writer.dropped == 2000
    assert "event log: 2000 events could not be written within the shutdown's 0.5 s" in caplog.text
    assert "(cannot connect to the PostgreSQL database) and are lost" in caplog.text


class SlowStore(EventStore):
    """A database that writes, slowly."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner

    async def insert_rows(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], **kwargs: Any
    ) -> None:
        await asyncio.sleep(0.1)
        await self.inner.insert_rows(columns, rows, **kwargs)


async def test_a_clean_shutdown_with_more_queued_than_it_can_write_in_time_is_bounded(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    writer = EventLogWriter(SlowStore(store), drain_timeout_s=0.5)
    for number in range(20 * 500):
        writer.record(event(number))
    started = time.monotonic()
    await writer.aclose()
    assert time.monotonic() - started < 1.5
    written = len(await EventLogQueries(store).recent(limit=10_000))
    assert 0 < written < 10_000
    assert writer.dropped == 10_000 - written
    assert "(writing took too long) and are lost" in caplog.text


class HangingStore(EventStore):
    """A database that stopped answering: a write never returns."""

    def __init__(self) -> None:
        pass

    async def insert_rows(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], **kwargs: Any
    ) -> None:
        await asyncio.Event().wait()


async def test_a_clean_shutdown_during_a_write_that_never_returns_is_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = EventLogWriter(HangingStore(), drain_timeout_s=0.5)
    writer.start()
    for number in range(600):
        writer.record(event(number))
    await asyncio.sleep(0.3)  # a write has begun
    started = time.monotonic()
    await writer.aclose()
    assert time.monotonic() - started < 1.5
    assert writer.dropped == 600
    assert "event log: 600 events could not be written within the shutdown's 0.5 s" in caplog.text


async def test_only_starts_of_executions_still_running_after_a_flush_interval_are_written(
    store: EventStore,
) -> None:
    """A start costs the writer nothing when its execution ends soon (most do): it is never
    queued, so a writer at full rate has half the items to keep up with; one still running is
    written, and a clean shutdown writes the starts of those still running."""
    writer = EventLogWriter(store)
    writer.start()
    for number in range(1000):
        writer.record(dataclasses.replace(event(number), action="execute-start", outcome="unknown"))
        writer.record(event(number))
    assert writer.health().backlog <= 1000  # the finished executions only
    running = dataclasses.replace(event(5000), action="execute-start", outcome="unknown")
    writer.record(running)
    await asyncio.sleep(0.5)  # past the flush interval: its start is written while it runs
    await writer.flush()
    queries = EventLogQueries(store)
    assert [e.id for e in await queries.recent(limit=5000) if e.action == "execute-start"] == [
        running.id
    ]
    late = dataclasses.replace(event(5001), action="execute-start", outcome="unknown")
    writer.record(late)
    await writer.aclose()  # at once: still running at shutdown
    found = await queries.recent(limit=5000)
    assert len(found) == 1002
    assert {e.id for e in found if e.action == "execute-start"} == {running.id, late.id}

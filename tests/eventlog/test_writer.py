"""The writer: batched in the background, nothing lost on a clean shutdown, failures retried."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

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

    async def insert_rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise OSError("database went away")
        await self.inner.insert_rows(columns, rows)


async def test_a_failed_write_is_retried_and_logged(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    writer = EventLogWriter(FlakyStore(store))
    writer.start()
    writer.record(event(7))
    await writer.flush()
    await writer.aclose()
    assert len(await EventLogQueries(store).recent()) == 1
    assert "writing 1 events failed (try 1)" in caplog.text


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

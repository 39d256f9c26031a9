"""Retention: old events go, in bounded batches, on SQLite and PostgreSQL; recent ones stay."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from llmrelay.auth import Principal
from llmrelay.eventlog import EventLogPruner, EventLogQueries
from llmrelay.services import open_services
from llmrelay.storage import EventStore
from tests.conftest import make_settings
from tests.eventlog.test_writer import event, store  # noqa: F401  (the two-database fixture)

LOCAL = Principal.local("test")

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def aged(number: int, days: float, now: datetime = NOW) -> dict[str, object]:
    moment = now - timedelta(days=days)
    made = dataclasses.replace(event(number), timestamp=moment, end=moment)
    return {f.name: getattr(made, f.name) for f in dataclasses.fields(made)}


async def test_events_past_retention_are_deleted_in_batches(store: EventStore) -> None:  # noqa: F811
    old = [aged(n, 91 + n / 1000) for n in range(250)]
    recent = [aged(1000 + n, 89) for n in range(5)]
    await store.insert_many([*old, *recent])
    deletes: list[int] = []
    original = store.delete_older_than

    async def counted(cutoff: datetime, *, limit: int) -> int:
        deleted = await original(cutoff, limit=limit)
        deletes.append(deleted)
        return deleted

    store.delete_older_than = counted  # type: ignore[method-assign]
    pruner = EventLogPruner(store, retention_days=90, batch_size=100)
    assert await pruner.prune(now=NOW) == 250
    assert deletes == [100, 100, 50]  # never more than one batch per transaction
    left = await EventLogQueries(store).recent(limit=1000)
    assert sorted(e.id for e in left) == sorted(str(r["id"]) for r in recent)
    assert await pruner.prune(now=NOW) == 0


async def test_the_pruner_runs_with_the_services_and_stops_with_them(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", **{"event_log.retention_days": 30})
    async with open_services(settings) as services:
        await services.events.flush()
    now = datetime.now(UTC)
    async with open_services(settings) as services:
        store = services.actions._events._store  # type: ignore[attr-defined]
        await store.insert_many([aged(1, 29, now), aged(2, 31, now)])
    # a new start prunes at once; leaving the block stops the task (no pending-task warning)
    async with open_services(settings) as services:
        for _ in range(100):
            remaining = await services.actions.recent_executions(limit=10, principal=LOCAL)
            if len(remaining) == 1:
                break
            await asyncio.sleep(0.02)
    assert [e.id for e in remaining] == [str(aged(1, 29)["id"])]


async def test_zero_days_keeps_everything(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", **{"event_log.retention_days": 0})
    async with open_services(settings) as services:
        store = services.actions._events._store  # type: ignore[attr-defined]
        await store.insert_many([aged(1, 10_000)])
    async with open_services(settings) as services:
        await asyncio.sleep(0.1)
        assert len(await services.actions.recent_executions(limit=10, principal=LOCAL)) == 1

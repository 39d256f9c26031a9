"""How long a clean shutdown (SIGTERM) takes to write what the event log has queued.

Opens llmrelay's services on a fresh SQLite database (or ``--url``), queues ``--events`` events
at once (as a burst of executions, or a backlog that waited while the database could not write,
would leave them), then times leaving ``open_services`` — what ``llmrelay serve`` does after
SIGTERM once its connections are closed — and checks every event was written.

Run: ``.venv/bin/python bench/drain.py [--events N ...] [--url URL] [--drain-timeout S]``;
with the default ``event_log.drain_timeout_s`` a backlog too large to write in time is cut off
there (``written`` says how many made it).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from llmrelay.eventlog import ExecutionEvent
from llmrelay.services import open_services
from llmrelay.settings import load_settings
from llmrelay.storage import Database
from llmrelay.storage.tables import events

KEY = "bench-encryption-key-0123456789-abcdefghij"


def event(number: int) -> ExecutionEvent:
    now = datetime.now(UTC)
    return ExecutionEvent(
        id=str(uuid.uuid4()),
        timestamp=now,
        end=now,
        duration_ns=1_000_000 + number,
        outcome="success",
        connector_id=f"bench-{number % 4}",
        connector_name="Bench connector",
        connector_type_id=".gen-ai",
        sub_action="run",
        source="http_request",
        message="action executed: .gen-ai:bench: Bench connector",
        provider="OpenAI",
        model="gpt-4o",
        prompt_tokens=120,
        completion_tokens=40,
        total_tokens=160,
        usage_estimated=False,
    )


async def drain(
    count: int, data_dir: Path, url: str | None, timeout_s: float | None
) -> tuple[float, int]:
    overrides: dict[str, object] = {
        "data_dir": str(data_dir),
        "encryption_key": KEY,
        "security.admin_password": "bench-password-0123",
        "event_log.max_backlog": max(count, 1),
    }
    if timeout_s is not None:
        overrides["event_log.drain_timeout_s"] = timeout_s
    if url:
        overrides["database.url"] = url
    settings = load_settings({}, overrides)
    async with open_services(settings) as services:
        for number in range(count):
            services.events.record(event(number))
        started = time.perf_counter()
    took_s = time.perf_counter() - started
    async with Database(settings.database_url) as db, db.connect() as connection:
        stored = (await connection.execute(select(func.count()).select_from(events))).scalar_one()
        await connection.execute(events.delete())
        await connection.commit()
    return took_s, int(stored)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--url", help="a PostgreSQL URL (an empty database) instead of SQLite")
    parser.add_argument(
        "--drain-timeout", type=float, help="event_log.drain_timeout_s (default: the setting's)"
    )
    args = parser.parse_args()
    print(f"{'queued':>10} {'shutdown s':>11} {'events/s':>10} {'written':>10}")
    for count in args.events:
        with tempfile.TemporaryDirectory() as directory:
            took_s, stored = await drain(count, Path(directory), args.url, args.drain_timeout)
        print(f"{count:>10,} {took_s:>11.2f} {count / took_s:>10,.0f} {stored:>10,}")


if __name__ == "__main__":
    asyncio.run(main())

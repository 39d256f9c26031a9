"""The events table: written in batches, read newest first.

Rows are plain mappings of column → value; ``llmrelay.eventlog`` owns their meaning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select

from llmrelay.storage.db import Database
from llmrelay.storage.tables import events

MAX_PAGE = 10_000


class EventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """One transaction for the whole batch: it is written entirely or not at all."""
        if not rows:
            return
        async with self._db.begin() as connection:
            await connection.execute(insert(events), list(rows))

    async def newest(self, *, connector_id: str | None, limit: int) -> list[dict[str, Any]]:
        statement = select(events).order_by(events.c.timestamp.desc(), events.c.id.desc())
        if connector_id is not None:
            statement = statement.where(events.c.connector_id == connector_id)
        async with self._db.connect() as connection:
            result = await connection.execute(statement.limit(min(limit, MAX_PAGE)))
            return [dict(row._mapping) for row in result]

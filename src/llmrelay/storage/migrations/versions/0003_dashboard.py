"""Hourly rollups of the events for the usage dashboard, filled from the events already stored.

Revision ID: 0003_dashboard
Revises: 0002
Create Date: 2026-12-01

Hand-written for SQLite and PostgreSQL alike. The backfill reads the existing events once, in
chunks, and aggregates them with the same function the writer uses
(``llmrelay.storage.rollups.summarise``), so old and new rows are binned identically.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from llmrelay.storage.rollups import rollup_parameters, summarise
from llmrelay.storage.tables import UtcDateTime

revision: str = "0003_dashboard"
down_revision: str | Sequence[str] | None = "0003_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL_CHUNK = 10_000
COUNTERS = (
    "executions",
    "failures",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "estimated",
    "unknown_usage",
)


def upgrade() -> None:
    rollups = op.create_table(
        "event_rollups",
        sa.Column("connector_id", sa.String(255), nullable=False),
        sa.Column("hour_s", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint("connector_id", "hour_s", "model", name="pk_event_rollups"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_event_rollups_hour_s", "event_rollups", ["hour_s"])
    latency = op.create_table(
        "event_latency_rollups",
        sa.Column("connector_id", sa.String(255), nullable=False),
        sa.Column("hour_s", sa.BigInteger(), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("executions", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("connector_id", "hour_s", "bin", name="pk_event_latency_rollups"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_event_latency_rollups_hour_s", "event_latency_rollups", ["hour_s"])
    if op.get_context().as_sql:
        # An offline SQL script cannot aggregate in Python; it creates the tables empty, and
        # the dashboard then shows only events written after it ran (docs/eventlog.md says so).
        return
    _backfill(rollups, latency)


def _backfill(rollups: sa.Table, latency: sa.Table) -> None:
    events = sa.table(
        "events",
        *(
            sa.column(name)
            for name in (
                "connector_id",
                "model",
                "outcome",
                "duration_ns",
                "prompt_tokens",
                "completion_tokens",
                "total_tokens",
                "usage_estimated",
            )
        ),
        sa.column("timestamp", UtcDateTime()),
        sa.column("id"),
    )
    # read in chunks by id (keyset): a big event log must not be loaded into memory at once,
    # and a server-side cursor would stay open on PostgreSQL until the end of the upgrade's
    # transaction, where a later revision (0005) alters the table
    summary = summarise([])
    after = ""
    while True:
        chunk = (
            sa.select(*events.c)
            .where(events.c.id > after)
            .order_by(events.c.id)
            .limit(BACKFILL_CHUNK)
        )
        rows = [row._mapping for row in op.get_bind().execute(chunk)]
        summarise(rows, into=summary)
        if len(rows) < BACKFILL_CHUNK:
            break
        after = rows[-1]["id"]
    counts, histogram = rollup_parameters(summary)
    # only this revision's columns: later ones (0005's ``unfinished``) do not exist yet
    counts = [{column.name: row[column.name] for column in rollups.c} for row in counts]
    if counts:
        op.get_bind().execute(rollups.insert(), counts)
    if histogram:
        op.get_bind().execute(latency.insert(), histogram)


def downgrade() -> None:
    op.drop_index("ix_event_latency_rollups_hour_s", table_name="event_latency_rollups")
    op.drop_table("event_latency_rollups")
    op.drop_index("ix_event_rollups_hour_s", table_name="event_rollups")
    op.drop_table("event_rollups")

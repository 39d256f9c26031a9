"""Event log hardening: token counts as 64-bit integers, invalid counts flagged, unfinished
executions counted.

Revision ID: 0005_eventlog
Revises: 0003_dashboard
Create Date: 2026-12-07

- ``events.prompt_tokens`` / ``completion_tokens`` / ``total_tokens`` become ``BIGINT`` on
  PostgreSQL (they were ``INTEGER``, 32 bits, which a count above 2^31 - 1 overflowed; SQLite's
  ``INTEGER`` is 64 bits already). This rewrites the table on PostgreSQL: a large event log makes
  the upgrade take a while.
- ``events.usage_invalid``: the provider reported counts that are not counts; stored as NULL.
- ``event_rollups.unfinished``: ``execute-start`` events whose ``execute`` event has not replaced
  them. No older event is an ``execute-start``, so 0 is right for every stored hour.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_eventlog"
down_revision: str | Sequence[str] | None = "0004_user_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKEN_COLUMNS = ("prompt_tokens", "completion_tokens", "total_tokens")


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for name in TOKEN_COLUMNS:
            op.alter_column("events", name, type_=sa.BigInteger(), existing_nullable=True)
    op.add_column("events", sa.Column("usage_invalid", sa.Boolean(), nullable=True))
    op.add_column(
        "event_rollups",
        sa.Column("unfinished", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("event_rollups") as rollups:
        rollups.drop_column("unfinished")
    with op.batch_alter_table("events") as table:
        table.drop_column("usage_invalid")
    if op.get_context().dialect.name == "postgresql":
        for name in TOKEN_COLUMNS:
            op.alter_column("events", name, type_=sa.Integer(), existing_nullable=True)

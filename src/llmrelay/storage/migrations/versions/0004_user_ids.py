"""Users get an immutable id; keys, sessions and audit rows are bound to it.

Revision ID: 0004_user_ids
Revises: 0003_dashboard
Create Date: 2026-12-07

A key or session used to name its owner only by user name, so deleting ``bob`` and creating a new
``bob`` brought the old ``bob``'s keys back with the new user's privileges. Each existing user gets
a random id; keys and sessions are bound to the id of the user who has their owner's name now (a
key whose owner is gone keeps no id and never authenticates again; such a session is deleted).
Audit rows gain ``user_id`` for new rows only: an old row's name cannot be tied safely to a user
who may be a later namesake. Audit rows also gain ``forwarded_address``, the address a trusted
proxy forwarded (``client_address`` stays the TCP peer).

Hand-written for SQLite and PostgreSQL alike (batch mode rebuilds SQLite tables where SQLite
cannot alter a column), and independent of ``llmrelay.storage.tables``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_user_ids"
down_revision: str | Sequence[str] | None = "0003_dashboard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)


def _random_id() -> str:
    """SQL for a new random id per row (also rendered by ``alembic upgrade --sql``)."""
    if op.get_context().dialect.name == "postgresql":
        return "gen_random_uuid()::text"
    return "lower(hex(randomblob(16)))"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("id", ID, nullable=True))
    users = sa.table("users", sa.column("username", sa.String()), sa.column("id", ID))
    op.execute(users.update().values(id=sa.text(_random_id())))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("id", existing_type=ID, nullable=False)
        batch.create_unique_constraint("uq_users_id", ["id"])

    for name, name_column, id_column in (
        ("api_keys", "owner", "owner_id"),
        ("sessions", "username", "user_id"),
    ):
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column(id_column, ID, nullable=True))
            batch.create_index(f"ix_{name}_{id_column}", [id_column])
        table = sa.table(name, sa.column(name_column, sa.String()), sa.column(id_column, ID))
        owner = (
            sa.select(users.c.id).where(users.c.username == table.c[name_column]).scalar_subquery()
        )
        op.execute(table.update().values({id_column: owner}))
    sessions = sa.table("sessions", sa.column("user_id", ID))
    op.execute(sessions.delete().where(sessions.c.user_id.is_(None)))

    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("user_id", ID, nullable=True))
        batch.add_column(sa.Column("forwarded_address", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("forwarded_address")
        batch.drop_column("user_id")
    for table, id_column in (("sessions", "user_id"), ("api_keys", "owner_id")):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_{id_column}")
            batch.drop_column(id_column)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_id", type_="unique")
        batch.drop_column("id")

"""The relational schema, as SQLAlchemy Core tables.

These definitions are what the repository queries against and what Alembic compares with when a
developer autogenerates a migration; the schema of a real database is created only by the
hand-written migrations in ``migrations/versions``, so a change here needs a new migration too.

Columns are chosen to behave the same on SQLite and PostgreSQL:

- ``config`` is JSON *text* we serialise ourselves rather than ``JSON``/``JSONB``: PostgreSQL's
  ``JSONB`` reorders object keys, and the API must echo a connector's config back exactly as it
  was saved.
- ``secrets`` holds the ciphertext produced by :class:`~llmrelay.storage.crypto.SecretsCipher`;
  ``NULL`` means the connector was saved without secrets (Kibana's ``is_missing_secrets``).
- ``name`` is unbounded ``VARCHAR``: Kibana puts no limit on it, and a length here would be
  enforced by PostgreSQL but not by SQLite.
- timestamps go through :class:`UtcDateTime`, because SQLite has no time zone type and would
  otherwise hand back naive datetimes that compare unequal to the aware ones we wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Dialect, Index, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator

CONNECTOR_ID_MAX_LENGTH = 255
"""Kibana saved-object ids are free text; 255 keeps the primary key indexable everywhere."""

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations can refer to them on every backend."""


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that is always stored and returned in UTC.

    PostgreSQL keeps the offset (``timestamptz``); SQLite stores text without one, so values are
    normalised to UTC on the way in and marked as UTC on the way out. Naive datetimes are refused
    on the way in: guessing their zone is how timestamps silently drift.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

connectors = Table(
    "connectors",
    metadata,
    Column("id", String(CONNECTOR_ID_MAX_LENGTH), primary_key=True),
    Column("name", String, nullable=False),
    Column("connector_type_id", String(CONNECTOR_ID_MAX_LENGTH), nullable=False),
    Column("config", Text, nullable=False),
    Column("secrets", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_connectors_name", "name"),
)
"""One row per stored connector (Kibana's ``action`` saved object)."""

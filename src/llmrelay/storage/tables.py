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

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
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

events = Table(
    "events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("end", UtcDateTime, nullable=False),
    Column("duration_ns", BigInteger, nullable=False),
    Column("action", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("connector_id", String(CONNECTOR_ID_MAX_LENGTH), nullable=False),
    Column("connector_name", String, nullable=False),
    Column("connector_type_id", String(CONNECTOR_ID_MAX_LENGTH), nullable=False),
    Column("sub_action", String(64), nullable=True),
    Column("provider", String(64), nullable=True),
    Column("model", String, nullable=True),
    Column("source", String(32), nullable=False),
    Column("user_name", String, nullable=True),
    Column("message", Text, nullable=False),
    Column("error_message", Text, nullable=True),
    Column("prompt_tokens", BigInteger, nullable=True),
    Column("completion_tokens", BigInteger, nullable=True),
    Column("total_tokens", BigInteger, nullable=True),
    Column("usage_estimated", Boolean, nullable=True),
    Column("usage_invalid", Boolean, nullable=True),
    Index("ix_events_connector_id_timestamp", "connector_id", "timestamp"),
    Index("ix_events_timestamp", "timestamp"),
)
"""One row per execution (Kibana's ``execute`` event-log document, flattened).

Token counts are NULL when unknown, never 0; ``usage_estimated`` says whether they were counted
by llmrelay rather than reported by the provider, ``usage_invalid`` that the provider reported
something that is not a count (stored as NULL). An ``execute-start`` row (outcome ``unknown``)
stands for an execution that has not finished; its ``execute`` row replaces it."""

USER_NAME_MAX_LENGTH = 255

users = Table(
    "users",
    metadata,
    Column("username", String(USER_NAME_MAX_LENGTH), primary_key=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("roles", Text, nullable=False),
    Column("full_name", String, nullable=True),
    Column("email", String, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""Native-realm users; ``password_hash`` is argon2id, ``roles`` a JSON array of role names.
``id`` never changes and is never reused: keys, sessions and audit rows refer to it, so a user
made later with a deleted user's name inherits nothing."""

roles = Table(
    "roles",
    metadata,
    Column("name", String(USER_NAME_MAX_LENGTH), primary_key=True),
    Column("definition", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""Custom roles made through the API; built-in and config-file roles are not stored."""

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String, nullable=False),
    Column("owner", String(USER_NAME_MAX_LENGTH), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("role_descriptors", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("invalidated_at", UtcDateTime, nullable=True),
    Column("owner_id", String(36), nullable=True),
    Index("ix_api_keys_owner", "owner"),
    Index("ix_api_keys_owner_id", "owner_id"),
)
"""Elasticsearch-style API keys; only the SHA-256 of the secret is kept."""

sessions = Table(
    "sessions",
    metadata,
    Column("id_digest", String(64), primary_key=True),
    Column("username", String(USER_NAME_MAX_LENGTH), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("user_id", String(36), nullable=True),
    Index("ix_sessions_username", "username"),
    Index("ix_sessions_user_id", "user_id"),
)
"""Web UI sessions, shared by every instance; keyed by the SHA-256 of the cookie value."""

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("user_name", String, nullable=True),
    Column("auth_type", String(16), nullable=True),
    Column("client_address", String(64), nullable=True),
    Column("target", String, nullable=True),
    Column("message", Text, nullable=False),
    Column("user_id", String(36), nullable=True),
    Column("forwarded_address", String(64), nullable=True),
    Index("ix_audit_events_timestamp", "timestamp"),
)
"""Security-relevant actions: who did what, when, from where, and how it ended."""

event_rollups = Table(
    "event_rollups",
    metadata,
    Column("connector_id", String(CONNECTOR_ID_MAX_LENGTH), primary_key=True),
    Column("hour_s", BigInteger, primary_key=True),
    Column("model", String, primary_key=True),
    Column("executions", BigInteger, nullable=False),
    Column("failures", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("estimated", BigInteger, nullable=False),
    Column("unknown_usage", BigInteger, nullable=False),
    Column("unfinished", BigInteger, nullable=False, server_default="0"),
    Index("ix_event_rollups_hour_s", "hour_s"),
    sqlite_with_rowid=False,
)
"""Per connector, UTC hour (epoch seconds) and model (``""`` when unknown): what the dashboard
sums. Maintained with the events in one transaction (``llmrelay.storage.rollups``). On SQLite
``WITHOUT ROWID``: rows are stored in key order, so a connector's month is one contiguous read."""

event_latency_rollups = Table(
    "event_latency_rollups",
    metadata,
    Column("connector_id", String(CONNECTOR_ID_MAX_LENGTH), primary_key=True),
    Column("hour_s", BigInteger, primary_key=True),
    Column("bin", Integer, primary_key=True),
    Column("executions", BigInteger, nullable=False),
    Index("ix_event_latency_rollups_hour_s", "hour_s"),
    sqlite_with_rowid=False,
)
"""Per connector and UTC hour: how many executions took a duration in each logarithmic bin."""

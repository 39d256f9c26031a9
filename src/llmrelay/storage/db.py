"""The database handle: one async engine per database URL, and the migrations that shape it.

SQLite (embedded, the default) and PostgreSQL are both first-class. Several llmrelay processes may
share one database, so the engine is set up for that: SQLite runs in WAL mode with a busy timeout
and real transactions, and schema upgrades are serialised (an advisory lock on PostgreSQL, an
immediate write transaction on SQLite) so that two processes starting together both come up.

SQLAlchemy's exceptions stop here: a database that cannot be reached at start-up becomes a
:class:`~llmrelay.errors.ConfigurationError` naming where we tried to connect (never the password)
and what went wrong; one that goes away later (or drops a connection mid-statement) becomes a
:class:`~llmrelay.errors.StorageUnavailableError` with the same description, answered 503.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from llmrelay.errors import ConfigurationError, StorageUnavailableError

MIGRATIONS_PATH = Path(__file__).with_name("migrations")
"""Alembic's script directory; shipped as package data, so no ``alembic.ini`` is needed."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
WAL_SWITCH_ATTEMPTS = 100
"""How long a SQLite writer waits for another process's write lock before giving up."""

OWNER_ONLY = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside the database; they hold its pages, so they are owner-only too."""

MIGRATION_LOCK_KEY = int.from_bytes(b"llmrelay", "big")
"""PostgreSQL advisory lock key held while migrating; any constant shared by all processes."""

_SQLITE_BEGIN = "llmrelay_sqlite_begin"
"""Execution option choosing ``BEGIN DEFERRED`` (default) or ``BEGIN IMMEDIATE`` on SQLite."""

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_BACKEND_ALIASES = {"postgres": "postgresql"}


def normalise_url(url: str) -> URL:
    """Turn a URL as users paste it into one for our async drivers.

    ``postgres://``, ``postgresql://`` and ``postgresql+psycopg2://`` all become
    ``postgresql+asyncpg://`` (libpq's ``sslmode`` is renamed to asyncpg's ``ssl``); ``sqlite:///``
    becomes ``sqlite+aiosqlite:///``. Other backends are refused up front rather than failing on
    the first query. The error never echoes the URL, which may hold a password.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            "the database URL is not valid; expected sqlite:///path/to/file.db or "
            "postgresql://user:password@host:5432/database"
        ) from None
    backend = parsed.get_backend_name()
    backend = _BACKEND_ALIASES.get(backend, backend)
    if backend not in _DRIVERS:
        raise ConfigurationError(
            f"unsupported database {backend!r}: llmrelay stores its data in SQLite "
            "(sqlite:///path/to/file.db) or PostgreSQL (postgresql://user@host/database)"
        )
    parsed = parsed.set(drivername=_DRIVERS[backend])
    if backend == "postgresql" and "sslmode" in parsed.query and "ssl" not in parsed.query:
        sslmode = parsed.query["sslmode"]
        parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": sslmode})
    return parsed


def describe_url(url: URL) -> str:
    """Say where a URL points, for messages and logs: host or file, never the password."""
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return "in-memory SQLite database"
        return f"SQLite database {Path(url.database).resolve()}"
    user = f' as user "{url.username}"' if url.username else ""
    return f'PostgreSQL database "{url.database}" at {url.host}:{url.port or 5432}{user}'


def head_revision() -> str:
    """The newest migration shipped with this version of llmrelay."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError(f"no migrations found in {MIGRATIONS_PATH}")
    return head


class Database:
    """An async engine plus the few operations every store needs: connect, migrate, close.

    Construct it and use it as ``async with Database(url) as db`` (or ``await Database.open(url)``
    and ``await db.close()``): entering checks the database can be reached, so a wrong URL stops
    start-up with a clear message instead of failing the first request. Nothing is shared between
    instances, so two databases can live in one process (as the tests do).
    """

    def __init__(self, url: str) -> None:
        self._url = normalise_url(url)
        self.description = describe_url(self._url)
        """Where this database is, safe to show to users and to log."""
        if self.dialect_name == "sqlite":
            self._create_sqlite_directory()
            self._restrict_sqlite_files()
        self._engine = _create_engine(self._url)
        self._batches: _SqliteBatches | None = None
        if self.dialect_name == "sqlite" and self._url.database not in (None, "", ":memory:"):
            self._batches = _SqliteBatches(str(self._url.database))

    @classmethod
    async def open(cls, url: str) -> Database:
        """Build a handle and check the database answers; raises ``ConfigurationError`` if not."""
        database = cls(url)
        try:
            await database.check_reachable()
        except BaseException:
            await database.close()
            raise
        return database

    async def __aenter__(self) -> Self:
        try:
            await self.check_reachable()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def dialect_name(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._url.get_backend_name()

    @property
    def engine(self) -> AsyncEngine:
        """The engine itself, for stores inside ``storage/`` only: it raises SQLAlchemy errors."""
        return self._engine

    async def close(self) -> None:
        """Close every pooled connection; SQLite checkpoints its WAL into the main file here."""
        if self._batches is not None:
            await self._batches.close()
        await self._engine.dispose()

    async def ping(self) -> None:
        """One round trip; raises ``StorageUnavailableError`` when the database does not answer."""
        async with self.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def check_reachable(self) -> None:
        """``ping`` for start-up, where an unreachable database is a configuration problem."""
        try:
            await self.ping()
        except StorageUnavailableError as exc:
            raise ConfigurationError(exc.message) from exc

    async def unreachable(self, timeout_s: float = 2.0) -> str | None:
        """Why the database does not answer ``SELECT 1`` within ``timeout_s``; ``None`` when it
        does (a readiness probe asks this)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.ping()
        except StorageUnavailableError as exc:
            return exc.message
        except (DBAPIError, OSError, PoolTimeoutError) as exc:
            return f"the {self.description} does not answer: {self._reason(exc)}"
        return None

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection; raises ``StorageUnavailableError`` when the database is gone.

        Translated are failing to connect and losing the connection mid-statement (SQLAlchemy
        marks those ``connection_invalidated`` and drops the pooled connection, so the next use
        reconnects). Any other error from a statement is a bug or a constraint the caller
        handles, and must not be disguised as "unreachable".
        """
        try:
            connection = await self._engine.connect()
        except (DBAPIError, OSError) as exc:
            raise self._lost("cannot connect to", exc) from exc
        try:
            yield connection
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            raise self._lost("lost the connection to", exc) from exc
        except OSError as exc:
            raise self._lost("lost the connection to", exc) from exc
        finally:
            await connection.close()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction that commits on success and rolls back on error."""
        async with self.connect() as connection, connection.begin():
            yield connection

    async def write_prepared(
        self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]
    ) -> None:
        """Run driver-level statements (``storage.prepared``), each with its rows of parameters,
        in one transaction: the batch writers' way in.

        On a SQLite file the transaction runs on a thread and connection of its own, one hop
        from the event loop: through aiosqlite each statement is several hops, and a batch of
        events with its rollups cost the loop 5-12 ms, which the requests arriving meanwhile
        waited for. That thread runs only the driver, which lets go of the GIL while SQLite
        works; SQLAlchemy there would make the loop wait for the GIL instead (measured: the
        relay's throughput halved). PostgreSQL's driver is asynchronous itself, and an in-memory
        SQLite database is not visible to another connection: both use the async engine.

        Raises ``StorageUnavailableError`` when the database cannot write now (full disk,
        unreachable, locked), so the writers keep the rows and retry; any other error means
        these rows were refused (a value out of range), and is raised as the driver raised it.
        """
        if not statements:
            return
        try:
            if self._batches is not None:
                await self._batches.write(statements)
                return
            async with self.begin() as connection:
                for sql, rows in statements:
                    await connection.exec_driver_sql(sql, [tuple(row) for row in rows])
        except (sqlite3.OperationalError, OSError, PoolTimeoutError) as exc:
            raise self._lost("cannot write to", exc) from exc
        except DBAPIError as exc:
            if not _unavailable(exc):
                raise
            raise self._lost("cannot write to", exc) from exc

    async def upgrade(self) -> None:
        """Apply every pending migration; a no-op when the schema is already at head.

        Safe when several processes start at once: on PostgreSQL the migration runs under a
        transaction-scoped advisory lock, so the second process waits, then finds nothing to do;
        on SQLite ``BEGIN IMMEDIATE`` takes the write lock before Alembic reads the version.
        """
        async with self.connect() as connection:
            if self.dialect_name == "sqlite":
                await connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
            async with connection.begin():
                if self.dialect_name == "postgresql":
                    await connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                await connection.run_sync(_run_upgrade)

    async def current_revision(self) -> str | None:
        """The migration the database is at; ``None`` before the first upgrade."""
        async with self.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    def _create_sqlite_directory(self) -> None:
        if not self._url.database or self._url.database == ":memory:":
            return
        directory = Path(self._url.database).parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the directory {directory.resolve()} for the {self.description}: "
                f"{exc.strerror or exc}"
            ) from exc

    def _lost(self, what: str, exc: BaseException) -> StorageUnavailableError:
        return StorageUnavailableError(f"{what} the {self.description}: {self._reason(exc)}")

    def _restrict_sqlite_files(self) -> None:
        """Make the database file owner-only (0600) before SQLite opens it, like the key file.

        SQLite creates ``-wal`` and ``-shm`` with the main file's permissions, so creating the
        main file 0600 first covers them without touching the process umask (which would race
        with aiosqlite's threads). Files left 0644 by an older version are narrowed here too.
        """
        if not self._url.database or self._url.database == ":memory:":
            return
        main = Path(self._url.database)
        try:
            os.close(os.open(main, os.O_CREAT | os.O_WRONLY, OWNER_ONLY))
            for path in (main, *(main.with_name(main.name + s) for s in SQLITE_SIDE_FILES)):
                if path.exists() and path.stat().st_mode & 0o077:
                    path.chmod(OWNER_ONLY)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create or restrict the {self.description}: {exc.strerror or exc}"
            ) from exc

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, DBAPIError):
            reason = str(exc.orig) if exc.orig is not None else str(exc)
        elif isinstance(exc, TimeoutError):
            reason = "timed out"
        else:
            reason = str(exc) or type(exc).__name__
        if self._url.password:
            reason = reason.replace(self._url.password, "***")
        return reason


class _SqliteBatches:
    """One plain ``sqlite3`` connection, used only from its own thread, for batch writes."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None

    async def write(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="llmrelay-sqlite-batches")
        await asyncio.get_running_loop().run_in_executor(self._thread, self._write, statements)

    def _write(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        connection = self._connection
        if connection is None:
            connection = self._connection = sqlite3.connect(self._path)
            _configure_sqlite_connection(connection, None)
        # IMMEDIATE: take the write lock first, so a writer never has to upgrade a read lock
        connection.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in statements:
                connection.executemany(sql, rows)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        await asyncio.get_running_loop().run_in_executor(thread, self._close_connection)
        thread.shutdown(wait=True)

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _unavailable(exc: DBAPIError) -> bool:
    """Whether a driver error says the database cannot write now rather than "not these rows":
    a lost or refused connection, a full disk, a lock or a cancelled statement."""
    return exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))


def _create_engine(url: URL) -> AsyncEngine:
    """``hide_parameters``: SQL logged at debug level, and error messages, never show the bound
    values, which include password hashes, key digests and encrypted secrets."""
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    engine = create_async_engine(url, hide_parameters=True)
    # aiosqlite logs each call it runs at debug level, its SQL parameters included
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, logging.getLogger("aiosqlite").level))
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, connection_record: object) -> None:
    """Make each new SQLite connection fit for several processes sharing the file.

    The driver's own transaction handling is switched off (``isolation_level = None``) because it
    does not begin a transaction before SELECTs or DDL; :func:`_begin_sqlite_transaction` emits
    ``BEGIN`` instead, which gives real atomic transactions and transactional migrations. The
    busy timeout comes first so that switching to WAL waits for a concurrent starter.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """WAL once per database file; tolerate a concurrent starter holding the lock.

    Changing the journal mode needs an exclusive lock, and SQLite may refuse it at once
    ("database is locked") without consulting the busy timeout, which two instances starting
    together on a new file hit about one time in twenty.
    """
    for attempt in range(WAL_SWITCH_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_SWITCH_ATTEMPTS - 1:
                raise
            time.sleep(0.05)


def _begin_sqlite_transaction(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    # ConfigParser interpolation would treat a "%" in the install path as a placeholder.
    config.set_main_option("script_location", str(MIGRATIONS_PATH).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _run_upgrade(connection: Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")

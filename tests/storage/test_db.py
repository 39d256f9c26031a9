"""Database: URLs users paste, migrations (also when processes race), unreachable databases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect, text

from llmrelay.errors import ConfigurationError
from llmrelay.storage import Database, describe_url, head_revision, normalise_url
from llmrelay.storage.db import MIGRATIONS_PATH
from tests.components import fresh_postgres_database


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+pysqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgres://u:p@db.example:5433/relay", "postgresql+asyncpg://u:p@db.example:5433/relay"),
        ("postgresql://u@db/relay", "postgresql+asyncpg://u@db/relay"),
        ("postgresql+psycopg2://u@db/relay", "postgresql+asyncpg://u@db/relay"),
        ("postgresql://u@db/relay?sslmode=require", "postgresql+asyncpg://u@db/relay?ssl=require"),
    ],
)
def test_pasted_urls_use_the_async_drivers(pasted: str, expected: str) -> None:
    assert normalise_url(pasted).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["mysql://root:hunter2@db/relay", "not a url :: hunter2"])
def test_unsupported_or_invalid_urls_are_refused_without_echoing(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        normalise_url(url)

    assert "hunter2" not in str(caught.value)


def test_description_names_the_place_not_the_password() -> None:
    described = describe_url(normalise_url("postgres://relay:hunter2@db.example/llm"))

    assert described == 'PostgreSQL database "llm" at db.example:5432 as user "relay"'


async def test_unreachable_postgresql_is_a_configuration_error() -> None:
    url = "postgresql://relay:hunter2@127.0.0.1:1/llm"

    with pytest.raises(ConfigurationError) as caught:
        async with Database(url):
            pass

    message = str(caught.value)
    assert '"llm" at 127.0.0.1:1' in message
    assert "Connect call failed" in message
    assert "hunter2" not in message


async def test_missing_postgresql_database_is_a_configuration_error() -> None:
    async with fresh_postgres_database() as url:
        missing = url.rsplit("/", 1)[0] + "/llmrelay_test_does_not_exist"

    with pytest.raises(ConfigurationError, match='"llmrelay_test_does_not_exist" does not exist'):
        await Database.open(missing)


async def test_sqlite_file_that_cannot_be_opened(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    with pytest.raises(ConfigurationError, match="cannot create the directory") as caught:
        Database(f"sqlite:///{blocker}/sub/x.db")
    assert str(blocker) in str(caught.value)

    not_a_database = tmp_path / "garbage.db"
    not_a_database.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(ConfigurationError, match="file is not a database") as caught:
        await Database.open(f"sqlite:///{not_a_database}")
    assert str(not_a_database) in str(caught.value)


async def test_sqlite_parent_directory_is_created_and_tuned_for_sharing(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "llmrelay.db"

    db = await Database.open(f"sqlite:///{path}")
    try:
        async with db.connect() as connection:
            pragmas = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
    finally:
        await db.close()

    assert path.exists()
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1}


async def test_upgrade_creates_the_schema_and_is_idempotent(database_url: str) -> None:
    async with Database(database_url) as db:
        assert await db.current_revision() is None
        await db.upgrade()
        await db.upgrade()
        assert await db.current_revision() == head_revision() == "0005_eventlog"
        async with db.connect() as connection:
            schema = await connection.run_sync(_schema)

    assert schema == {
        "columns": [
            "id",
            "name",
            "connector_type_id",
            "config",
            "secrets",
            "created_at",
            "updated_at",
        ],
        "primary_key": ["id"],
        "indexes": [("ix_connectors_name", ["name"])],
        "nullable": ["secrets"],
    }


def _schema(connection: Connection) -> dict[str, object]:
    inspector = inspect(connection)
    columns = inspector.get_columns("connectors")
    return {
        "columns": [c["name"] for c in columns],
        "primary_key": inspector.get_pk_constraint("connectors")["constrained_columns"],
        "indexes": [(i["name"], i["column_names"]) for i in inspector.get_indexes("connectors")],
        "nullable": [c["name"] for c in columns if c["nullable"]],
    }


async def test_concurrent_upgrades_on_a_fresh_database_both_succeed(database_url: str) -> None:
    """Two processes starting together: separate engines racing on one empty database."""
    first, second = Database(database_url), Database(database_url)
    try:
        await asyncio.gather(first.upgrade(), second.upgrade())
        assert await first.current_revision() == head_revision()
        async with second.connect() as connection:
            versions = (await connection.execute(text("SELECT * FROM alembic_version"))).all()
        assert [tuple(v) for v in versions] == [(head_revision(),)]
    finally:
        await first.close()
        await second.close()


async def test_two_databases_in_one_process_are_independent(tmp_path: Path) -> None:
    async with (
        Database(f"sqlite:///{tmp_path / 'one.db'}") as one,
        Database(f"sqlite:///{tmp_path / 'two.db'}") as two,
    ):
        await one.upgrade()
        assert await one.current_revision() == head_revision()
        assert await two.current_revision() is None


def test_migrations_also_run_from_the_alembic_command(tmp_path: Path) -> None:
    """Developers may run ``alembic`` by hand: env.py then opens its own engine from the URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{tmp_path / 'cli.db'}")

    command.upgrade(config, "head")

    async def revision() -> str | None:
        async with Database(f"sqlite:///{tmp_path / 'cli.db'}") as db:
            return await db.current_revision()

    assert asyncio.run(revision()) == head_revision()


def test_migrations_render_as_sql_offline(capsys: pytest.CaptureFixture[str]) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    config.set_main_option("sqlalchemy.url", "postgresql://u@db/relay")

    command.upgrade(config, "head", sql=True)

    sql = capsys.readouterr().out
    assert "CREATE TABLE connectors" in sql
    assert "CREATE INDEX ix_connectors_name ON connectors (name)" in sql


async def test_sqlite_files_are_owner_only_after_start_and_writes(tmp_path: Path) -> None:
    """The database holds password hashes and encrypted secrets: 0600, like the key file,
    whatever the umask (SQLite gives -wal and -shm the main file's permissions)."""
    from tests.conftest import api_client, make_settings

    previous = os.umask(0o022)
    try:
        settings = make_settings(tmp_path / "data")
        async with api_client(settings) as admin:
            created = await admin.post(
                "/internal/security/users/kate",
                json={"password": "kate-password-0123", "roles": ["viewer"]},
            )
            assert created.status_code == 200, created.text
            path = tmp_path / "data" / "llmrelay.db"
            modes = {
                name: stat.S_IMODE(Path(f"{path}{name}").stat().st_mode)
                for name in ("", "-wal", "-shm")
            }
    finally:
        os.umask(previous)
    assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600}


async def test_an_existing_world_readable_sqlite_file_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    for name in ("", "-wal"):
        Path(f"{path}{name}").touch(mode=0o644)
        Path(f"{path}{name}").chmod(0o644)
    async with Database(f"sqlite:///{path}") as db:
        await db.ping()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(f"{path}-wal").stat().st_mode) == 0o600


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_debug_logging_never_shows_sql_parameters(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At debug level SQLAlchemy logs every statement; the bound values (password hashes,
    key digests) must not be in those lines."""
    from llmrelay.app import create_app
    from tests.conftest import http_client, make_settings

    caplog.set_level(logging.DEBUG)
    async with contextlib.AsyncExitStack() as stack:
        overrides: dict[str, object] = {"log_level": "debug"}
        if backend == "postgresql":
            overrides["database.url"] = await stack.enter_async_context(fresh_postgres_database())
        app = create_app(make_settings(tmp_path / "data", **overrides))
        async with app.router.lifespan_context(app), http_client(app) as admin:
            created = await admin.post(
                "/internal/security/users/kate",
                json={"password": "kate-password-0123", "roles": ["viewer"]},
            )
            assert created.status_code == 200, created.text
            user = await app.state.services.security._store.get_user("kate")
    assert user is not None
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert user.password_hash not in logged
    assert "$argon2id$" not in logged


async def test_a_database_error_does_not_show_the_values_bound(database: Database) -> None:
    """A failed statement's message goes to the log with its traceback: no parameters in it."""
    from datetime import UTC, datetime

    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from llmrelay.storage.tables import users

    now = datetime.now(UTC)
    row = {
        "username": "kate",
        "id": "kate-id",
        "password_hash": "$argon2id$secret-hash-value",
        "roles": "[]",
        "enabled": True,
        "created_at": now,
        "updated_at": now,
    }
    async with database.begin() as connection:
        await connection.execute(insert(users).values(**row))
    with pytest.raises(IntegrityError) as caught:
        async with database.begin() as connection:
            await connection.execute(insert(users).values(**row))
    assert "secret-hash-value" not in str(caught.value)

"""Fixtures for storage tests: every database test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmrelay.storage import ConnectorRepository, Database, SecretsCipher
from tests.components import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of each supported kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{(tmp_path / 'data' / 'llmrelay.db').as_posix()}"
    else:
        async with fresh_postgres_database() as url:
            yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database, closed after the test."""
    async with Database(database_url) as db:
        await db.upgrade()
        yield db


@pytest.fixture
def master_key() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def cipher(master_key: str) -> SecretsCipher:
    return SecretsCipher(master_key)


@pytest.fixture
def repository(database: Database, cipher: SecretsCipher) -> ConnectorRepository:
    return ConnectorRepository(database, cipher)

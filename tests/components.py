"""Real external components for tests: find them, or say clearly why a test cannot run.

On a developer machine a missing component (PostgreSQL, squid, nginx, chromium) skips the tests
that need it; under CI (``CI=true``) it fails them, so a broken CI image cannot turn into a green
run that tested nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL_VARIABLE = "LLMRELAY_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TEST_DATABASE_PREFIX = "llmrelay_test_"


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(component: str, available: bool, reason: str) -> None:
    """Skip (or, under CI, fail) the current test unless ``component`` is available."""
    if available:
        return
    if under_ci():
        pytest.fail(f"{component} is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"{component} not available: {reason}")


def postgres_url() -> str:
    """SQLAlchemy URL of the PostgreSQL server tests may create databases on."""
    return os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """Create an empty database for one test, yield its SQLAlchemy URL, then drop it.

    Each test gets its own database so tests can run in parallel and never see each other's
    rows or schema; the drop forces out connections a failed test left behind.
    """
    server_url = postgres_url()
    try:
        admin = await asyncpg.connect(_asyncpg_dsn(server_url), timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        where = make_url(server_url).render_as_string(hide_password=True)
        require(
            "postgresql",
            False,
            f"cannot connect to {where} ({exc}); start PostgreSQL or set {POSTGRES_URL_VARIABLE}",
        )
        raise AssertionError("unreachable") from exc
    name = f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()

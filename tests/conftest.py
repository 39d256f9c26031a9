"""Shared fixtures: a real upstream LLM server, settings on a temporary SQLite, the app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.app import create_app
from llmrelay.settings import Settings, load_settings
from tests.tokens import SHARED_TIKTOKEN_DIR
from tests.upstream import UpstreamServer

TEST_ENCRYPTION_KEY = "test-encryption-key-0123456789-abcdefghij"
UPSTREAM_KEY = "sk-test"
ADMIN_USERNAME = "admin"
TEST_ADMIN_PASSWORD = "test-admin-password-0123456789"
CHEAP_HASHING = {
    "security.password_hashing.time_cost": 1,
    "security.password_hashing.memory_cost_kib": 1024,
    "security.password_hashing.parallelism": 1,
}
"""Real argon2id at a test-sized cost: the default costs ~0.2 s per hash on a busy CI machine."""
ADMIN_AUTH = httpx.BasicAuth(ADMIN_USERNAME, TEST_ADMIN_PASSWORD)


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer(api_key=UPSTREAM_KEY) as server:
        yield server


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": str(data_dir),
        "encryption_key": TEST_ENCRYPTION_KEY,
        "security.admin_password": TEST_ADMIN_PASSWORD,
        "event_log.tokenizer_dir": str(SHARED_TIKTOKEN_DIR),  # wherever the checkout is
        **CHEAP_HASHING,
    }
    values.update(overrides)
    return load_settings({}, values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def http_client(app: Starlette, auth: httpx.Auth | None = ADMIN_AUTH) -> httpx.AsyncClient:
    """In-process HTTP client sending ``kbn-xsrf`` (as every Kibana client must) and, unless
    ``auth=None``, the superuser's Basic credentials."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://llmrelay.test",
        headers={"kbn-xsrf": "true"},
        auth=auth,
    )


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Authenticated as the superuser ``admin`` (made at the app's first start)."""
    async with http_client(app) as http:
        yield http


@pytest.fixture
async def anonymous_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The same app with no credentials at all."""
    async with http_client(app, auth=None) as http:
        yield http


@asynccontextmanager
async def api_client(
    settings: Settings, auth: httpx.Auth | None = ADMIN_AUTH
) -> AsyncIterator[httpx.AsyncClient]:
    """An app on ``settings`` with its services running, and an in-process client for it,
    authenticated as the superuser unless ``auth`` says otherwise."""
    application = create_app(settings)
    async with (
        application.router.lifespan_context(application),
        http_client(application, auth) as http,
    ):
        yield http

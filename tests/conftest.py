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
from tests.upstream import UpstreamServer

TEST_ENCRYPTION_KEY = "test-encryption-key-0123456789-abcdefghij"
UPSTREAM_KEY = "sk-test"


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer(api_key=UPSTREAM_KEY) as server:
        yield server


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"data_dir": str(data_dir), "encryption_key": TEST_ENCRYPTION_KEY}
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


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """In-process HTTP client; sends ``kbn-xsrf`` like every Kibana client must."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://llmrelay.test", headers={"kbn-xsrf": "true"}
    ) as http:
        yield http


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app on ``settings`` with its services running, and an in-process client for it."""
    application = create_app(settings)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://llmrelay.test",
            headers={"kbn-xsrf": "true"},
        ) as http,
    ):
        yield http

"""Helpers of the API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.app import create_app
from tests.components import fresh_postgres_database
from tests.conftest import UPSTREAM_KEY, http_client, make_settings


async def create_connector(
    client: httpx.AsyncClient,
    url: str,
    *,
    provider: str = "OpenAI",
    api_key: str = UPSTREAM_KEY,
    name: str | None = None,
    **config: object,
) -> str:
    """Create a ``.gen-ai`` connector through the API; "Other" gets a default model."""
    if provider == "Other":
        config.setdefault("defaultModel", "local-model")
    response = await client.post(
        "/api/actions/connector",
        json={
            "name": name or f"{provider} connector",
            "connector_type_id": ".gen-ai",
            "config": {"apiProvider": provider, "apiUrl": url, **config},
            "secrets": {"apiKey": api_key},
        },
    )
    assert response.status_code == 200, response.text
    connector_id: str = response.json()["id"]
    return connector_id


USER_PASSWORD = "user-password-0123"


async def add_user(client: httpx.AsyncClient, username: str, *roles: str) -> httpx.BasicAuth:
    """Create a user through the API (``client`` must be a superuser's); their credentials."""
    response = await client.post(
        f"/internal/security/users/{username}",
        json={"password": USER_PASSWORD, "roles": list(roles)},
    )
    assert response.status_code == 200, response.text
    return httpx.BasicAuth(username, USER_PASSWORD)


async def create_api_key(client: httpx.AsyncClient, **body: object) -> dict[str, object]:
    body.setdefault("name", "test key")
    response = await client.post("/api/security/api_key", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, object] = response.json()
    return created


def api_key_header(created: dict[str, object]) -> dict[str, str]:
    return {"authorization": f"ApiKey {created['encoded']}"}


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
async def stored_app(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app and the superuser's client, once on SQLite and once on PostgreSQL (a fresh
    database): for tests whose outcome is what storage kept (an event, a refused write)."""
    async with AsyncExitStack() as stack:
        overrides: dict[str, object] = {}
        if request.param == "postgresql":
            overrides["database.url"] = await stack.enter_async_context(fresh_postgres_database())
        application = create_app(make_settings(tmp_path / "data", **overrides))
        await stack.enter_async_context(application.router.lifespan_context(application))
        http = await stack.enter_async_context(http_client(application))
        yield application, http

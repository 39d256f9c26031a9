"""Helpers of the API tests."""

from __future__ import annotations

import httpx

from tests.conftest import UPSTREAM_KEY


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

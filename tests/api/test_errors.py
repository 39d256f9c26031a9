"""A bug answers a bare 500: no traceback, no secret, nothing but hapi's text; the log has it."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.actions_client import ActionsClient, Connector
from tests.conftest import ADMIN_AUTH


async def test_unexpected_error_is_a_bare_500(
    app: Starlette, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: ActionsClient, *, principal: object) -> list[Connector]:
        raise RuntimeError("internal detail sk-should-not-leak")

    monkeypatch.setattr(ActionsClient, "get_all", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", auth=ADMIN_AUTH
    ) as client:
        with caplog.at_level(logging.ERROR, logger="llmrelay"):
            response = await client.get("/api/actions/connectors")
    assert response.status_code == 500
    assert response.json() == {
        "statusCode": 500,
        "error": "Internal Server Error",
        "message": "An internal server error occurred.",
    }
    assert "Traceback" in caplog.text  # the log keeps what the response must not show
    assert "sk-should-not-leak" not in response.text


async def test_wrong_method_is_a_kibana_404(client: httpx.AsyncClient) -> None:
    response = await client.patch("/api/actions/connectors")
    assert response.status_code == 404
    assert response.json()["error"] == "Not Found"

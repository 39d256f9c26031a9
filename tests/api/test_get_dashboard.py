"""``getDashboard``: whether the caller may see token usage; the privilege is one seam."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.eventlog import EventLogWriter
from llmrelay.execution import ActionExecutor, PendingEstimates
from llmrelay.services import build_registry
from llmrelay.settings import Settings
from llmrelay.storage import (
    ConnectorRepository,
    Database,
    EventStore,
    PreconfiguredConnectors,
    SecretsCipher,
    preconfigured_connector,
)
from llmrelay.transport import HttpClientPool, NetworkPolicy, OutboundHttp
from tests.api.conftest import add_user, create_connector
from tests.conftest import TEST_ENCRYPTION_KEY, http_client

DASHBOARD = {
    "subAction": "getDashboard",
    "subActionParams": {"dashboardId": "generative-ai-token-usage-openai-default"},
}


@pytest.mark.parametrize(
    ("roles", "available"),
    [
        (("superuser",), True),
        (("usage_viewer",), True),
        (("viewer",), False),  # event log read, but not view_index_metadata
        (("connectors_user",), False),
    ],
)
async def test_the_dashboard_is_available_to_who_has_its_privileges(
    app: Starlette, client: httpx.AsyncClient, roles: tuple[str, ...], available: bool
) -> None:
    cid = await create_connector(client, "http://127.0.0.1:9/v1/chat/completions")
    auth = await add_user(client, "someone", *roles)
    async with http_client(app, auth) as user:
        response = await user.post(
            f"/api/actions/connector/{cid}/_execute", json={"params": DASHBOARD}
        )
    assert response.json() == {
        "status": "ok",
        "connector_id": cid,
        "data": {"available": available},
    }


async def test_a_dashboard_request_without_an_id_is_refused(client: httpx.AsyncClient) -> None:
    cid = await create_connector(client, "http://127.0.0.1:9/v1/chat/completions")
    params = {"subAction": "getDashboard", "subActionParams": {}}
    result = (
        await client.post(f"/api/actions/connector/{cid}/_execute", json={"params": params})
    ).json()
    assert result["status"] == "error"
    assert result["service_message"].startswith("Request validation failed (Error: [dashboardId]")


class Answers:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked = 0

    async def can_read_event_log(self) -> bool:
        self.asked += 1
        return self.answer


@pytest.mark.parametrize("available", [True, False])
async def test_the_executor_asks_the_privilege_check_it_is_given(
    settings: Settings, tmp_path: Path, available: bool
) -> None:
    access = Answers(available)

    declared = preconfigured_connector(
        "llm",
        name="LLM",
        connector_type_id=".gen-ai",
        config={"apiProvider": "OpenAI", "apiUrl": "http://127.0.0.1:9/v1/chat/completions"},
        secrets={"apiKey": "sk-x"},
    )
    pool = HttpClientPool()
    async with Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}") as db:
        await db.upgrade()
        events = EventLogWriter(EventStore(db))
        executor = ActionExecutor(
            registry=build_registry(settings),
            connectors=ConnectorRepository(db, SecretsCipher(TEST_ENCRYPTION_KEY, [])),
            preconfigured=PreconfiguredConnectors([declared]),
            http=OutboundHttp(pool, NetworkPolicy.from_settings(settings.actions)),
            events=events,
            estimates=PendingEstimates(events),
        )
        result = await executor.execute("llm", DASHBOARD, event_log_access=access)
        await events.aclose()
    await pool.aclose()
    assert result.data == {"available": available}
    assert access.asked == 1

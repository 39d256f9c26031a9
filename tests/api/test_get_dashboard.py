"""``getDashboard``: whether the caller may see token usage; the privilege is one seam."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from llmrelay.connectors import EventLogAccess
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
from tests.api.conftest import create_connector
from tests.conftest import TEST_ENCRYPTION_KEY

DASHBOARD = {
    "subAction": "getDashboard",
    "subActionParams": {"dashboardId": "generative-ai-token-usage-openai-default"},
}


async def test_every_caller_may_see_the_dashboard_until_there_are_roles(
    client: httpx.AsyncClient,
) -> None:
    cid = await create_connector(client, "http://127.0.0.1:9/v1/chat/completions")
    response = await client.post(
        f"/api/actions/connector/{cid}/_execute", json={"params": DASHBOARD}
    )
    assert response.json() == {"status": "ok", "connector_id": cid, "data": {"available": True}}


async def test_a_dashboard_request_without_an_id_is_refused(client: httpx.AsyncClient) -> None:
    cid = await create_connector(client, "http://127.0.0.1:9/v1/chat/completions")
    params = {"subAction": "getDashboard", "subActionParams": {}}
    result = (
        await client.post(f"/api/actions/connector/{cid}/_execute", json={"params": params})
    ).json()
    assert result["status"] == "error"
    assert result["service_message"].startswith("Request validation failed (Error: [dashboardId]")


class OnlyFor:
    def __init__(self, allowed: str | None, user_name: str | None) -> None:
        self.answer = user_name == allowed

    async def can_read_event_log(self) -> bool:
        return self.answer


@pytest.mark.parametrize(
    ("user_name", "available"), [("analyst", True), ("viewer", False), (None, False)]
)
async def test_the_executor_asks_the_privilege_check_for_the_executions_user(
    settings: Settings, tmp_path: Path, user_name: str | None, available: bool
) -> None:
    asked: list[str | None] = []

    def access_for(name: str | None) -> EventLogAccess:
        asked.append(name)
        return OnlyFor("analyst", name)

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
            event_log_access=access_for,
        )
        result = await executor.execute("llm", DASHBOARD, user_name=user_name)
        await events.aclose()
    await pool.aclose()
    assert result.data == {"available": available}
    assert asked == [user_name]

"""The whole service on PostgreSQL: what several instances behind a load balancer share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.components import fresh_postgres_database
from tests.conftest import UPSTREAM_KEY, api_client, make_settings
from tests.upstream import UpstreamServer

pytestmark = pytest.mark.postgres


async def test_two_instances_share_connectors_on_postgresql(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    async with fresh_postgres_database() as url:
        first = make_settings(tmp_path / "a", **{"database.url": url})
        second = make_settings(
            tmp_path / "b", **{"database.url": url, "database.execution_cache_ttl_s": 0}
        )
        async with api_client(first) as a, api_client(second) as b:
            created = await a.post(
                "/api/actions/connector/shared",
                json={
                    "name": "shared",
                    "connector_type_id": ".gen-ai",
                    "config": {
                        "apiProvider": "OpenAI",
                        "apiUrl": upstream.chat_completions_url,
                    },
                    "secrets": {"apiKey": UPSTREAM_KEY},
                },
            )
            assert created.status_code == 200, created.text
            assert (await b.get("/api/actions/connector/shared")).json() == created.json()
            run = {
                "params": {
                    "subAction": "run",
                    "subActionParams": {
                        "body": '{"messages":[{"role":"user","content":"from b"}]}'
                    },
                }
            }
            result = (await b.post("/api/actions/connector/shared/_execute", json=run)).json()
            assert result["status"] == "ok", result
            assert upstream.last_request.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
            assert (await a.delete("/api/actions/connector/shared")).status_code == 204
            gone = await b.post("/api/actions/connector/shared/_execute", json=run)
            assert gone.status_code == 404

"""The whole service on PostgreSQL: what several instances behind a load balancer share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.components import fresh_postgres_database
from tests.conftest import TEST_ADMIN_PASSWORD, UPSTREAM_KEY, api_client, make_settings
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


async def test_two_instances_share_users_keys_and_sessions_on_postgresql(tmp_path: Path) -> None:
    """A session made on one instance is valid on the other; a key invalidated on one is
    refused by the other once its cache entry expires (TTL 0 here: at once)."""
    async with fresh_postgres_database() as url:
        shared = {"database.url": url, "security.authc_cache_ttl_s": 0}
        first = make_settings(tmp_path / "a", **shared)
        second = make_settings(tmp_path / "b", **shared)
        async with api_client(first) as a, api_client(second) as b:
            assert (await b.get("/internal/security/users")).status_code == 200  # one admin
            login = await a.post(
                "/internal/security/login",
                json={"params": {"username": "admin", "password": TEST_ADMIN_PASSWORD}},
                auth=None,
            )
            cookie = {"cookie": f"sid={login.cookies['sid']}"}
            me = await b.get("/internal/security/me", headers=cookie, auth=None)
            assert me.json()["authentication_type"] == "session"
            key = (await a.post("/api/security/api_key", json={"name": "shared"})).json()
            header = {"authorization": f"ApiKey {key['encoded']}"}
            assert (
                await b.get("/internal/security/me", headers=header, auth=None)
            ).status_code == 200
            await b.request("DELETE", "/api/security/api_key", json={"ids": [key["id"]]})
            refused = await a.get("/internal/security/me", headers=header, auth=None)
            assert refused.status_code == 401
            assert (
                await a.post("/api/security/logout", headers=cookie, auth=None)
            ).status_code == 204
            ended = await b.get("/internal/security/me", headers=cookie, auth=None)
            assert ended.status_code == 401

"""The whole service on PostgreSQL: what several instances behind a load balancer share."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

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


async def _set_connections_allowed(url: str, allowed: bool) -> None:
    """What a restart or a failover looks like to llmrelay: existing connections are cut and,
    while ``allowed`` is false, new ones are refused by the server itself."""
    database = make_url(url).database
    admin = await asyncpg.connect(
        make_url(url).set(drivername="postgresql", database="postgres").render_as_string(False)
    )
    try:
        await admin.execute(
            f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'
        )
        if not allowed:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                database,
            )
    finally:
        await admin.close()


async def test_a_database_that_goes_away_answers_503_and_comes_back(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    """PostgreSQL stopping under a running instance: every route that needs it answers 503 with
    Retry-After and a message saying which database is unreachable (Kibana's shape on the Kibana
    API, OpenAI's on /v1), never a bare 500; when it is back, the same requests succeed."""
    async with fresh_postgres_database() as url:
        settings = make_settings(tmp_path, **{"database.url": url})
        async with api_client(settings) as http:
            created = await http.post(
                "/api/actions/connector/pg",
                json={
                    "name": "pg",
                    "connector_type_id": ".gen-ai",
                    "config": {"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url},
                    "secrets": {"apiKey": UPSTREAM_KEY},
                },
            )
            assert created.status_code == 200, created.text
            key = (await http.post("/api/security/api_key", json={"name": "sdk"})).json()
            unused = (await http.post("/api/security/api_key", json={"name": "new"})).json()
            chat = {"model": "pg", "messages": [{"role": "user", "content": "hi"}]}
            openai_auth = {"authorization": f"Bearer {key['encoded']}"}
            await _set_connections_allowed(url, False)
            try:
                listed = await http.get("/api/actions/connectors")
                assert listed.status_code == 503, listed.text
                assert listed.json()["error"] == "Service Unavailable"
                assert "PostgreSQL" in listed.json()["message"], listed.json()
                assert int(listed.headers["retry-after"]) > 0
                if make_url(url).password:
                    assert make_url(url).password not in listed.text
                first_use = await http.get(
                    "/api/actions/connectors",
                    headers={"authorization": f"ApiKey {unused['encoded']}"},
                    auth=None,
                )  # credentials never seen before: checking them needs the database
                assert first_use.status_code == 503, first_use.text
                assert "PostgreSQL" in first_use.json()["message"]
                relayed = await http.post(
                    "/v1/chat/completions", json=chat, headers=openai_auth, auth=None
                )
                assert relayed.status_code == 503, relayed.text
                assert relayed.json()["error"]["code"] == "service_unavailable"
                run = {"params": {"subAction": "run", "subActionParams": {"body": "{}"}}}
                executed = await http.post("/api/actions/connector/pg/_execute", json=run)
                assert executed.status_code == 503, executed.text
                relayed_first_use = await http.post(  # the relayed pipeline checks keys itself
                    "/api/actions/connector/pg/_execute",
                    json=run,
                    headers={"authorization": f"ApiKey {unused['encoded']}"},
                    auth=None,
                )
                assert relayed_first_use.status_code == 503, relayed_first_use.text
            finally:
                await _set_connections_allowed(url, True)
            assert (await http.get("/api/actions/connectors")).status_code == 200
            relayed = await http.post(
                "/v1/chat/completions", json=chat, headers=openai_auth, auth=None
            )
            assert relayed.status_code == 200, relayed.text

"""Secrets: encrypted at rest, never in a response or a log line, and never stale after a write."""

from __future__ import annotations

import logging
import sqlite3

import httpx
import pytest

from llmrelay.settings import Settings
from tests.api.conftest import create_connector
from tests.upstream import Fail, UpstreamServer

SECRET_KEY = "sk-live-0123456789-this-must-never-leak"


async def test_api_key_is_not_in_the_database_file(
    client: httpx.AsyncClient, settings: Settings, upstream: UpstreamServer
) -> None:
    await create_connector(
        client, upstream.chat_completions_url, api_key=SECRET_KEY, name="secretive"
    )
    database = settings.data_dir / "llmrelay.db"
    with sqlite3.connect(database) as connection:  # fold the WAL into the main file
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = b"".join(p.read_bytes() for p in settings.data_dir.glob("llmrelay.db*"))
    assert raw.startswith(b"SQLite format 3")
    assert SECRET_KEY.encode() not in raw
    assert b"this-must-never-leak" not in raw


async def test_no_secret_in_any_log_line_or_response(
    client: httpx.AsyncClient, upstream: UpstreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cid = await create_connector(
        client, upstream.chat_completions_url, api_key=SECRET_KEY, name="secretive"
    )
    upstream.queue(Fail(500, ""))
    bodies = [
        (await client.get(f"/api/actions/connector/{cid}")).text,
        (await client.get("/api/actions/connectors")).text,
        (
            await client.post(
                f"/api/actions/connector/{cid}/_execute",
                json={"params": {"subAction": "run", "subActionParams": {"body": "{}"}}},
            )
        ).text,
    ]
    assert upstream.last_request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    for text in [*bodies, caplog.text]:
        assert SECRET_KEY not in text


async def test_an_update_is_used_by_the_very_next_execution(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(
        client, upstream.chat_completions_url, api_key="sk-test", name="secretive"
    )
    run = {
        "params": {
            "subAction": "run",
            "subActionParams": {"body": '{"messages":[{"role":"user","content":"hi"}]}'},
        }
    }
    assert (await client.post(f"/api/actions/connector/{cid}/_execute", json=run)).json()[
        "status"
    ] == "ok"
    update = {
        "name": "secretive",
        "config": {"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url},
        "secrets": {"apiKey": "sk-rotated"},
    }
    assert (await client.put(f"/api/actions/connector/{cid}", json=update)).status_code == 200
    await client.post(f"/api/actions/connector/{cid}/_execute", json=run)
    assert upstream.last_request.headers["authorization"] == "Bearer sk-rotated"
    assert (await client.delete(f"/api/actions/connector/{cid}")).status_code == 204
    gone = await client.post(f"/api/actions/connector/{cid}/_execute", json=run)
    assert gone.status_code == 404

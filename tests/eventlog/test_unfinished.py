"""Executions cut off with the process (SIGKILL) stay visible: their ``execute-start`` event is
in the log, shown as unfinished by ``llmrelay executions``, ``_find`` and the dashboard."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.conftest import create_connector
from tests.cli.test_serve import free_port
from tests.conftest import (
    ADMIN_AUTH,
    TEST_ADMIN_PASSWORD,
    TEST_ENCRYPTION_KEY,
    api_client,
    make_settings,
)
from tests.upstream import StreamDelay, UpstreamServer

BODY = json.dumps({"messages": [{"role": "user", "content": "one two three"}], "stream": True})
STREAM = {"params": {"subAction": "stream", "subActionParams": {"body": BODY, "stream": True}}}


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRELAY_")}
    return env | {
        "LLMRELAY_DATA_DIR": str(data_dir),
        "LLMRELAY_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
        "LLMRELAY_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
    }


def serve(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrelay", "serve", "--port", str(port)],
        env=environment(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"{url}/api/status", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"llmrelay serve did not answer: {process.communicate()[1]}")


async def test_a_stream_killed_with_the_process_shows_as_unfinished(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    data_dir = tmp_path / "data"
    process, url = serve(data_dir)
    try:
        async with httpx.AsyncClient(
            base_url=url, headers={"kbn-xsrf": "1"}, auth=ADMIN_AUTH, timeout=30
        ) as client:
            cid = await create_connector(client, upstream.chat_completions_url, name="killed")
            upstream.queue(StreamDelay(10.0))
            async with client.stream(
                "POST", f"/api/actions/connector/{cid}/_execute", json=STREAM
            ) as streaming:
                chunks = streaming.aiter_raw()  # kept: a dropped iterator closes the stream
                await anext(chunks)  # the stream runs: its first chunk is here
                await asyncio.sleep(1.0)  # the writer's interval is 0.2 s
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()

    settings = make_settings(data_dir)
    async with api_client(settings) as client:
        found = (await client.get(f"/api/event_log/connector/{cid}/_find")).json()
        assert found["total"] == 1
        [event] = found["data"]
        assert event["event"]["action"] == "execute-start", event
        assert event["event"]["outcome"] == "unknown"
        assert event["message"] == f"action started: .gen-ai:{cid}: killed"
        unknown = await client.get(
            f"/api/event_log/connector/{cid}/_find", params={"outcome": "unknown"}
        )
        assert unknown.json()["total"] == 1
        dashboard = (await client.get(f"/internal/usage/connector/{cid}")).json()
        assert dashboard["totals"]["unfinished"] == 1
        assert dashboard["totals"]["executions"] == 0
        everything = (await client.get("/internal/usage", params={"range": "15m"})).json()
        assert everything["totals"]["unfinished"] == 1

    listed = subprocess.run(
        [sys.executable, "-m", "llmrelay", "executions", "--connector", cid],
        env=environment(data_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    [_, row] = listed.stdout.strip().splitlines()
    assert "unfinished" in row.split()


async def test_a_finished_execution_replaces_its_start_event_and_the_counts_agree(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    """A stream that outlives a batch: its start is written first, then replaced."""
    settings = make_settings(tmp_path / "data")
    async with api_client(settings) as client:
        cid = await create_connector(client, upstream.chat_completions_url)
        upstream.queue(StreamDelay(0.3))
        answer = await client.post(f"/api/actions/connector/{cid}/_execute", json=STREAM)
        assert answer.status_code == 200
        await client.post(f"/api/actions/connector/{cid}/_execute", json=STREAM)
        async with asyncio.timeout(10):
            while True:
                found = (await client.get(f"/api/event_log/connector/{cid}/_find")).json()
                if [e["event"]["action"] for e in found["data"]] == ["execute", "execute"]:
                    break
                await asyncio.sleep(0.1)
        dashboard = (await client.get(f"/internal/usage/connector/{cid}")).json()
        assert (dashboard["totals"]["executions"], dashboard["totals"]["unfinished"]) == (2, 0)
        hourly = (await client.get("/internal/usage", params={"range": "7d"})).json()
        assert (hourly["totals"]["executions"], hourly["totals"]["unfinished"]) == (2, 0)

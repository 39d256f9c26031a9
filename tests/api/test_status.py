"""``/api/status``, ``/readyz`` and ``/livez`` while the database cannot write: executions keep
working, the events and audit records wait in a bounded backlog, the instance says it is
degraded (once in the log, with the reason), and everything waiting is written when it can be."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from llmrelay.app import create_app
from llmrelay.storage import AuditFilter
from tests.api.conftest import create_connector
from tests.components import fresh_postgres_database, require
from tests.conftest import UPSTREAM_KEY, http_client, make_settings
from tests.upstream import UpstreamServer

RUN = {
    "params": {
        "subAction": "run",
        "subActionParams": {"body": '{"messages":[{"role":"user","content":"one two"}]}'},
    }
}
EXECUTIONS = 300


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs of its own, unmounted afterwards (needs root, as in CI)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    require("root", os.geteuid() == 0, "mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    require("tmpfs mount", mounted.returncode == 0, f"mount refused: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Take every free byte of the file system ``directory`` is on."""
    filler = directory / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(descriptor, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(descriptor)
    return filler


def checkpoint(database: Path) -> None:
    """Empty SQLite's write-ahead log, so the next write must grow a file."""
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def wait_for(client: httpx.AsyncClient, status: str) -> dict[str, object]:
    async with asyncio.timeout(20):
        while True:
            body: dict[str, object] = (await client.get("/api/status")).json()
            if body["status"] == status:
                return body
            await asyncio.sleep(0.05)


async def test_a_full_disk_degrades_the_status_and_loses_nothing_once_space_returns(
    small_disk: Path, upstream: UpstreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(small_disk / "data")
    app: Starlette = create_app(settings)
    caplog.set_level(logging.INFO, logger="llmrelay.batching")
    async with app.router.lifespan_context(app), http_client(app) as client:
        services = app.state.services
        cid = await create_connector(client, upstream.chat_completions_url)
        await services.flush_events()
        await services.audit.flush()
        audited_before, _ = await services.audit.find(AuditFilter(), page=1, per_page=1)
        checkpoint(small_disk / "data" / "llmrelay.db")
        filler = fill(small_disk)

        for _ in range(EXECUTIONS):
            answer = await client.post(f"/api/actions/connector/{cid}/_execute", json=RUN)
            assert answer.json()["status"] == "ok"
        degraded = await wait_for(client, "degraded")
        reasons = " | ".join(degraded["reasons"])  # type: ignore[arg-type]
        assert "event log cannot write" in reasons
        assert "database or disk is full" in reasons
        await asyncio.sleep(0.6)  # the audit log writes every 0.5 s
        degraded = (await client.get("/api/status")).json()
        assert "audit cannot write" in " | ".join(degraded["reasons"])
        writers = degraded["writers"]
        assert writers["event_log"]["backlog"] >= EXECUTIONS
        assert writers["event_log"]["dropped"] == 0
        assert writers["audit"]["backlog"] >= EXECUTIONS
        anonymous = http_client(app, auth=None)
        async with anonymous:
            ready = await anonymous.get("/readyz")
            assert ready.status_code == 503
            assert "database or disk is full" in " ".join(ready.json()["reasons"])
            assert (await anonymous.get("/livez")).status_code == 200
        failing = [r for r in caplog.records if "cannot write" in r.getMessage()]
        assert sorted(r.getMessage().split(":")[0] for r in failing) == ["audit", "event log"]
        assert all(r.levelno == logging.ERROR for r in failing)

        filler.unlink()  # space returns
        await wait_for(client, "available")
        async with asyncio.timeout(20):
            while services.events.health().backlog or services.audit.health().backlog:
                await asyncio.sleep(0.05)
        assert (await anonymous_ready(app)).status_code == 200
        found = await client.get(f"/api/event_log/connector/{cid}/_find", params={"per_page": 1})
        assert found.json()["total"] == EXECUTIONS
        audited, _ = await services.audit.find(AuditFilter(), page=1, per_page=1)
        assert audited - audited_before >= EXECUTIONS
        recovered = [r for r in caplog.records if "writing works again" in r.getMessage()]
        assert len(recovered) == 2
        assert all(r.levelno == logging.INFO for r in recovered)
        [waited] = [r.getMessage() for r in recovered if r.getMessage().startswith("event log")]
        written = int(waited.split("; ")[1].split(" ")[0])
        # every execution's event waited, and the start events queued before the first write
        # failed (none is queued after)
        assert EXECUTIONS <= written <= 2 * EXECUTIONS


async def anonymous_ready(app: Starlette) -> httpx.Response:
    async with http_client(app, auth=None) as anonymous:
        return await anonymous.get("/readyz")


async def anonymous_status(app: Starlette) -> httpx.Response:
    async with http_client(app, auth=None) as anonymous:
        return await anonymous.get("/api/status")


async def test_only_a_full_backlog_drops_events_and_the_status_and_log_count_them(
    small_disk: Path, upstream: UpstreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(small_disk / "data", **{"event_log.max_backlog": 100})
    app: Starlette = create_app(settings)
    async with app.router.lifespan_context(app), http_client(app) as client:
        cid = await create_connector(client, upstream.chat_completions_url)
        await app.state.services.flush_events()
        checkpoint(small_disk / "data" / "llmrelay.db")
        filler = fill(small_disk)
        for _ in range(EXECUTIONS):
            answer = await client.post(f"/api/actions/connector/{cid}/_execute", json=RUN)
            assert answer.json()["status"] == "ok"
        body = await wait_for(client, "degraded")
        event_log = body["writers"]["event_log"]  # type: ignore[index]
        assert event_log["backlog"] == 100
        assert event_log["dropped"] >= EXECUTIONS - 100
        assert "event log: backlog full (100 events waiting): 1 events dropped so far" in (
            caplog.text
        )
        filler.unlink()
        body = await wait_for(client, "available")
        assert body["writers"]["event_log"]["dropped"] == event_log["dropped"]  # type: ignore[index]


class ClosableProxy:
    """A TCP proxy to PostgreSQL that can go away (listener closed, connections cut) and come
    back on the same port: a database that restarts, or a network that fails."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._links):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._links |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._links -= {writer, upstream_writer}


@pytest.mark.postgres
async def test_postgresql_going_away_degrades_the_status_and_loses_nothing_once_back(
    tmp_path: Path, upstream: UpstreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llmrelay.batching")
    async with fresh_postgres_database() as url:
        real = make_url(url)
        proxy = ClosableProxy(real.host or "127.0.0.1", real.port or 5432)
        await proxy.start()
        through_proxy = real.set(host="127.0.0.1", port=proxy.port)
        settings = make_settings(
            tmp_path / "data",
            **{
                "database.url": through_proxy.render_as_string(hide_password=False),
                "security.authc_cache_ttl_s": 600,
                "actions.preconfigured": {
                    "llm": {
                        "name": "LLM",
                        "actionTypeId": ".gen-ai",
                        "config": {
                            "apiProvider": "OpenAI",
                            "apiUrl": upstream.chat_completions_url,
                        },
                        "secrets": {"apiKey": UPSTREAM_KEY},
                    }
                },
            },
        )
        app: Starlette = create_app(settings)
        async with app.router.lifespan_context(app), http_client(app) as client:
            services = app.state.services
            assert (await client.get("/api/status")).json()["status"] == "available"
            # authenticated once while the database answers: the credentials stay cached
            assert (await client.get("/api/actions/connectors")).status_code == 200
            await proxy.stop()  # PostgreSQL is gone
            for _ in range(EXECUTIONS):
                answer = await client.post("/api/actions/connector/llm/_execute", json=RUN)
                assert answer.json()["status"] == "ok"
            degraded = await wait_for(client, "degraded")
            assert "event log cannot write" in " | ".join(degraded["reasons"])  # type: ignore[arg-type]
            ready = await anonymous_ready(app)
            assert ready.status_code == 503
            reasons = " ".join(ready.json()["reasons"])
            assert "cannot connect to the database" in reasons
            assert services.database.description not in ready.text  # open to anyone: no host
            assert services.database.description not in (await anonymous_status(app)).text
            await proxy.start()  # back, on the same port
            await wait_for(client, "available")
            async with asyncio.timeout(20):
                while services.events.health().backlog:
                    await asyncio.sleep(0.05)
            found = await client.get("/api/event_log/connector/llm/_find", params={"per_page": 1})
            assert found.json()["total"] == EXECUTIONS
            recovered = [r for r in caplog.records if "event log: writing works again" in r.message]
            assert len(recovered) == 1
        await proxy.stop()

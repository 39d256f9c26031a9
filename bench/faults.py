"""Events lost per fault: SIGTERM, SIGKILL, PostgreSQL down, a full disk, under a steady load.

Starts the test upstream and ``llmrelay serve`` as real processes, then, per scenario, lets
``--clients`` clients (aiohttp, one request at a time each, on kept-alive connections) send
``_execute`` requests in a loop, every other one a stream (``subAction: "stream"``, read to
``data: [DONE]``), while the fault happens:

- ``sigterm``: SIGTERM to the server half-way through ``--duration``; the load goes on until it
  has exited.
- ``sigkill``: ``kill -9`` half-way; the server is started again at once on the same port and
  database, the load goes on until ``--duration``, then a graceful stop.
- ``pgdown``: llmrelay on a private PostgreSQL cluster (``initdb`` into a temporary folder, a
  free port; the machine's shared server is never touched), stopped with ``pg_ctl stop -m fast``
  after a quarter of ``--duration``, started again ``--outage`` seconds later, then 10 s more load
  and a graceful stop. Needs ``/usr/lib/postgresql/*/bin/initdb``.
- ``fulldisk``: SQLite on a tmpfs of its own, filled up by a file after a quarter of
  ``--duration``, the file deleted ``--outage`` seconds later, then 10 s more load and a graceful
  stop. Needs root (``mount``).

Every request names its own ``model`` (the upstream echoes it and the event records it), so the
events in the database are matched to the answered requests one by one once the server has
stopped (``events`` and ``audit_events`` of ``llmrelay.storage.tables``). Columns:

- sent: requests begun; answered ok: 200 with ``status: ok``, or a stream read to its end;
  ok during fault: of those, answered while the fault lasted;
- recorded: answered requests with an ``execute`` event (any outcome);
- unfinished: answered requests with only a start row: counted when the schema has rows whose
  ``action`` names a start (``execute-start``) or a table named for them, else ``-``;
- lost: answered requests with no event at all;
- audit lost: answered requests minus ``connector_execute`` successes in the audit log, which
  names no request: an estimate;
- stop s: SIGTERM to exit (the fault's, or the final graceful stop's);
- recover s: sigkill, from the kill to the first answer of the new server; pgdown and fulldisk,
  from the end of the fault until the events table holds as many executions as there were
  answers then (the backlog written);
- what ``GET /api/status`` (and ``/readyz`` when the server has one) answered during the fault.

Below the table, per scenario: why requests were not answered ok, the writers' failure lines
in the server's log, and the exit codes. Figures, not pass/fail.

Run: ``.venv/bin/python bench/faults.py [--scenarios sigterm,sigkill,pgdown,fulldisk]
[--clients 20] [--duration 20] [--outage 10] [--tmpfs-mb 256]`` (``fulldisk`` needs root).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sqlalchemy import Connection, MetaData, Table, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llmrelay.storage.tables import audit_events, events
from processes import (
    create_api_key,
    create_connector,
    free_port,
    spawn_llmrelay,
    upstream_process,
    wait_until_ready,
)

SCENARIOS = ("sigterm", "sigkill", "pgdown", "fulldisk")
AFTER_FAULT_S = 10.0
"""Load kept up after PostgreSQL or the disk is back, so a backlog has time to be written."""
LOG_MARKS = ("failed (try", "could not be written", "dropped", "Traceback")
"""Server log lines worth counting: the batch writers' failures and losses, and crashes."""
EXCEPTION_LINE = re.compile(r"^((?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception))(?::|$)", re.M)
"""The last line of a traceback, ``asyncpg.exceptions.ConnectionDoesNotExistError: ...``."""


@dataclass
class Load:
    """What the clients sent and which requests were answered (by their ``model`` tag)."""

    url: str
    headers: dict[str, str]
    prefix: str
    sent: int = 0
    answered: set[str] = field(default_factory=set)
    answered_at: list[float] = field(default_factory=list)
    """``time.monotonic()`` of each answer, in order: when answers resumed after a fault."""
    failures: Counter[str] = field(default_factory=Counter)
    """Requests not answered ok, by what went wrong (``HTTP 500``, ``ClientConnectorError``)."""


@dataclass
class Row:
    """One line of the table (see the columns above); ``None`` and ``"-"`` print as ``-``."""

    scenario: str
    sent: int = 0
    ok: int = 0
    ok_during: int = 0
    recorded: int = 0
    unfinished: int | None = None
    lost: int = 0
    audit_lost: int | None = None
    stop_s: float | None = None
    recover_s: str = "-"
    status: str = "-"
    notes: list[str] = field(default_factory=list)


def execute_body(tag: str, streamed: bool) -> bytes:
    """An ``_execute`` body whose chat request names ``tag`` as its model, to find its event."""
    chat: dict[str, object] = {"model": tag, "messages": [{"role": "user", "content": "Hello"}]}
    if streamed:
        chat["stream"] = True
        sub = {"subAction": "stream", "subActionParams": {"stream": True, "body": json.dumps(chat)}}
    else:
        sub = {"subAction": "run", "subActionParams": {"body": json.dumps(chat)}}
    return json.dumps({"params": sub}).encode()


async def send(session: aiohttp.ClientSession, load: Load, tag: str, streamed: bool) -> str | None:
    """None when the answer completed as a client would accept it, else what went wrong."""
    body = execute_body(tag, streamed)
    async with session.post(load.url, data=body, headers=load.headers) as response:
        data = await response.read()
    if response.status != 200:
        return f"HTTP {response.status}"
    if streamed:
        return None if data.rstrip().endswith(b"data: [DONE]") else "stream cut short"
    answer = json.loads(data)
    ok = isinstance(answer, dict) and answer.get("status") == "ok"
    return None if ok else "status error"


async def client(session: aiohttp.ClientSession, load: Load, number: int) -> None:
    """Send until cancelled; pause briefly after a failure so a stopped server is not spun on."""
    count = 0
    while True:
        count += 1
        tag = f"{load.prefix}-{number:02d}-{count:06d}"
        load.sent += 1
        try:
            failure = await send(session, load, tag, streamed=count % 2 == 0)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            failure = type(exc).__name__
        if failure is None:
            load.answered.add(tag)
            load.answered_at.append(time.monotonic())
        else:
            load.failures[failure] += 1
            await asyncio.sleep(0.05)


async def probe(session: aiohttp.ClientSession, url: str) -> str:
    """One status answer as a short label: ``200 available``, ``503``, ``refused``."""
    try:
        timeout = aiohttp.ClientTimeout(total=1)
        async with session.get(url, timeout=timeout, allow_redirects=False) as response:
            data = await response.read()
    except TimeoutError:
        return "timeout"
    except aiohttp.ClientError:
        return "refused"
    label = str(response.status)
    with contextlib.suppress(ValueError):
        answer = json.loads(data)
        if isinstance(answer, dict) and "status" in answer:
            label += f" {answer['status']}"
    return label


async def watch(
    session: aiohttp.ClientSession, urls: list[str], seen: Counter[tuple[str, str]]
) -> None:
    """Poll the status routes every 0.25 s until cancelled, counting each distinct answer."""
    while True:
        for url in urls:
            path = url.split("/", 3)[3]
            seen[f"/{path}", await probe(session, url)] += 1
        await asyncio.sleep(0.25)


def summary(seen: Counter[tuple[str, str]]) -> str:
    """``/api/status: 200 available x37; /readyz: 503 x37``, each route's answers together."""
    routes = dict.fromkeys(route for route, _ in seen)
    return (
        "; ".join(
            f"{route}: "
            + ", ".join(f"{label} x{n}" for (r, label), n in seen.most_common() if r == route)
            for route in routes
        )
        or "-"
    )


class Relay:
    """One ``llmrelay serve``, restartable on the same port and database."""

    def __init__(self, data_dir: Path, env: dict[str, str], log: Path) -> None:
        self.data_dir, self.env, self.log_path = data_dir, env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_codes: list[int] = []

    def start(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            self.process = spawn_llmrelay(self.data_dir, self.port, self.env, stderr=log)
        return self.process

    async def ready(self) -> None:
        assert self.process is not None
        await asyncio.to_thread(wait_until_ready, self.url, self.process, 60)

    async def signal_and_wait(self, number: int, timeout_s: float = 60) -> float:
        """Send ``number``; seconds until the process has exited."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(number)
        code = await asyncio.to_thread(self.process.wait, timeout_s)
        self.exit_codes.append(code)
        return time.monotonic() - started

    def kill(self) -> None:
        """Cleanup: whatever is still running goes, by its own pid only."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log_notes(self) -> list[str]:
        """The log's failure lines counted, and the exceptions its tracebacks end with: why
        requests failed during a fault, without keeping the log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        found = [f"{text.count(mark)} x '{mark}'" for mark in LOG_MARKS if mark in text]
        raised = Counter(match.group(1) for match in EXCEPTION_LINE.finditer(text))
        if raised:
            found.append("exceptions: " + ", ".join(f"{n} x {e}" for e, n in raised.most_common(4)))
        return [f"server log: {'; '.join(found)}"] if found else []


class PostgresCluster:
    """A private PostgreSQL cluster in a temporary folder on a free port, stopped and started at
    will: the machine's shared server (other people's tests use it) is never touched."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="llmrelay-faults-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *argv: str, check: bool = True) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        command = [*prefix, str(self.bin_dir / tool), *argv]
        subprocess.run(command, check=check, capture_output=True, timeout=60)

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Cleanup: stop it if it runs (the pid file says), then delete its folder."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's programs (Debian's layout), else ``initdb`` on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class TmpfsMount:
    """A small file system of its own for the SQLite database, to be filled on purpose."""

    def __init__(self, folder: Path, size_mb: int) -> None:
        self.folder, self.size_mb = folder, size_mb
        self.filler = folder / "filler"
        self.mounted = False
        self.note = ""
        """How full it was when filled: the database's files and the filler, in MiB."""

    def mount(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        option = f"size={self.size_mb}m"
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", option, "tmpfs", str(self.folder)], check=True
        )
        self.mounted = True

    def fill(self) -> None:
        """Write until the file system refuses (ENOSPC), in ever smaller pieces."""
        database = sum(f.stat().st_size for f in self.folder.iterdir() if f != self.filler)
        with self.filler.open("wb", buffering=0) as filler:
            for size in (1 << 20, 1 << 12, 1):
                chunk = b"\0" * size
                with contextlib.suppress(OSError):
                    while True:
                        filler.write(chunk)
        filled = self.filler.stat().st_size
        self.note = f"disk filled with {filled / 2**20:.0f} MiB beside {database / 2**20:.1f} MiB"

    def empty(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            done = subprocess.run(["umount", str(self.folder)], check=False, capture_output=True)
            if done.returncode != 0:  # still busy: detach now, freed once the last user goes
                subprocess.run(["umount", "-l", str(self.folder)], check=False)
            self.mounted = False


def unavailable(name: str) -> str | None:
    """Why a scenario cannot run on this machine, or None."""
    if name == "pgdown" and postgres_bin_dir() is None:
        return "no PostgreSQL server programs (initdb, pg_ctl) installed"
    if name == "pgdown" and os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser, and initdb refuses root"
    if name == "fulldisk" and os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    return None


async def count_events(connection: AsyncConnection, prefix: str) -> int:
    query = select(func.count()).where(
        events.c.model.like(f"{prefix}-%"), events.c.action == "execute"
    )
    return int((await connection.execute(query)).scalar_one())


async def wait_for_backlog(database_url: str, prefix: str, target: int, since: float) -> str:
    """Seconds from ``since`` until the events table holds ``target`` executions of this run."""
    engine = create_async_engine(database_url)
    try:
        while True:
            # the database may still refuse, or be locked by the writer: ask again
            with contextlib.suppress(Exception):
                async with engine.connect() as connection:
                    if await count_events(connection, prefix) >= target:
                        return f"{time.monotonic() - since:.1f}"
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


START_WORDS = ("start", "pending", "unfinished")
"""A table named with one of these may hold executions that began and never ended."""


@dataclass
class Records:
    """What the database holds about one run, read after its server stopped."""

    executions: dict[str | None, str]
    """``model`` tag -> outcome of the ``execute`` events."""
    starts: list[str | None]
    """``model`` tags of start rows: in ``events`` (an ``action`` naming a start, as an
    ``execute-start`` would, or a row with no outcome yet) or in a table of their own
    (``START_WORDS``)."""
    start_tables: list[str]
    event_rows: int
    audited_successes: int


def is_start(action: str) -> bool:
    """``execute-start`` and the like: an event that says an execution began."""
    return action != "execute" and "start" in action


def read_records(connection: Connection) -> Records:
    """Synchronous (``run_sync``): reflection of tables that newer schemas may add."""
    rows = connection.execute(select(events.c.model, events.c.action, events.c.outcome)).all()
    starts = [m for m, action, outcome in rows if not outcome or is_start(action)]
    names = inspect(connection).get_table_names()
    start_tables = [n for n in names if n != events.name and any(w in n for w in START_WORDS)]
    for name in start_tables:
        table = Table(name, MetaData(), autoload_with=connection)
        if "model" in table.c:
            starts += connection.execute(select(table.c.model)).scalars().all()
    audited = select(func.count()).where(
        audit_events.c.action == "connector_execute", audit_events.c.outcome == "success"
    )
    return Records(
        executions={m: o for m, action, o in rows if o and not is_start(action)},
        starts=starts,
        start_tables=start_tables,
        event_rows=len(rows),
        audited_successes=int(connection.execute(audited).scalar_one()),
    )


async def tally(database_url: str, load: Load, row: Row) -> None:
    """Match the events in the database with the answered requests, by ``model`` tag: an
    answered request with only a start row is unfinished, one with no row at all is lost."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            records = await connection.run_sync(read_records)
    finally:
        await engine.dispose()
    missing = load.answered - records.executions.keys()
    row.recorded = len(load.answered) - len(missing)
    if any(model is not None for model in records.starts):
        unfinished = missing & set(records.starts)
        row.unfinished, row.lost = len(unfinished), len(missing - unfinished)
    elif records.starts:  # start rows that name no model: only their number can be compared
        surplus = len(records.starts) - len(records.executions)
        row.unfinished = min(len(missing), max(0, surplus))
        row.lost = len(missing) - row.unfinished
        row.notes.append("start rows name no model: unfinished is a difference of counts")
    else:
        row.lost = len(missing)
    row.audit_lost = max(0, row.ok - records.audited_successes)
    answered = load.answered & records.executions.keys()
    outcomes = Counter(records.executions[tag] for tag in answered)
    row.notes.append(
        f"{records.event_rows:,} event rows ({len(records.starts):,} start rows"
        + (f", also from {', '.join(records.start_tables)}" if records.start_tables else "")
        + f"); {records.audited_successes:,} audited successes; outcomes of the answered: "
        + ", ".join(f"{outcome} {count:,}" for outcome, count in outcomes.most_common())
    )


@dataclass
class Scene:
    """One scenario's running parts, handed to its fault."""

    relay: Relay
    load: Load
    row: Row
    args: argparse.Namespace
    database_url: str
    session: aiohttp.ClientSession
    status_urls: list[str]
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    window: tuple[float, float] = (0.0, 0.0)
    """When the fault began and ended (``time.monotonic()``)."""


@contextlib.asynccontextmanager
async def watching(scene: Scene) -> AsyncIterator[None]:
    """The block is the fault: its time is the fault's window, and the status routes are polled
    for as long as it runs (what they said during the fault)."""
    began = time.monotonic()
    task = asyncio.create_task(watch(scene.session, scene.status_urls, scene.seen))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        scene.window = (began, time.monotonic())


async def first_answer_after(load: Load, since: float, timeout_s: float = 60) -> float:
    deadline = time.monotonic() + timeout_s
    while not (load.answered_at and load.answered_at[-1] > since):
        if time.monotonic() > deadline:
            raise RuntimeError("no answer came after the fault")
        await asyncio.sleep(0.02)
    return next(moment for moment in load.answered_at if moment > since)


async def fault_sigterm(scene: Scene) -> None:
    await asyncio.sleep(scene.args.duration / 2)
    async with watching(scene):
        scene.row.stop_s = await scene.relay.signal_and_wait(signal.SIGTERM)


async def fault_sigkill(scene: Scene) -> None:
    started = time.monotonic()
    await asyncio.sleep(scene.args.duration / 2)
    async with watching(scene):
        killed = time.monotonic()
        await scene.relay.signal_and_wait(signal.SIGKILL)
        scene.relay.start()
        await scene.relay.ready()
        answered = await first_answer_after(scene.load, killed)
    scene.row.recover_s = f"{answered - killed:.1f}"
    await asyncio.sleep(max(0.0, scene.args.duration - (time.monotonic() - started)))


async def outage(scene: Scene, begin: Callable[[], None], end: Callable[[], None]) -> None:
    """``begin`` the fault after a quarter of the duration, ``end`` it ``--outage`` s later,
    then keep the load up for ``AFTER_FAULT_S`` while waiting for the backlog to be written."""
    await asyncio.sleep(scene.args.duration / 4)
    async with watching(scene):
        await asyncio.to_thread(begin)
        await asyncio.sleep(scene.args.outage)
        await asyncio.to_thread(end)
    ended, target = time.monotonic(), len(scene.load.answered)
    backlog = asyncio.create_task(
        wait_for_backlog(scene.database_url, scene.load.prefix, target, ended)
    )
    await asyncio.sleep(AFTER_FAULT_S)
    if backlog.done():
        scene.row.recover_s = backlog.result()
    else:
        backlog.cancel()
        scene.row.recover_s = f">{AFTER_FAULT_S:.0f}"
        with contextlib.suppress(asyncio.CancelledError):
            await backlog


async def run_scenario(
    name: str,
    relay: Relay,
    database_url: str,
    upstream_url: str,
    args: argparse.Namespace,
    fault: Callable[[Scene], Awaitable[None]],
) -> Row:
    """Start the server, load it, apply the fault, stop the load, stop the server, count."""
    row = Row(name)
    relay.start()
    await relay.ready()
    connector_id = await asyncio.to_thread(create_connector, relay.url, upstream_url)
    auth = await asyncio.to_thread(create_api_key, relay.url)
    load = Load(
        f"{relay.url}/api/actions/connector/{connector_id}/_execute",
        {"content-type": "application/json", "kbn-xsrf": "bench", **auth},
        prefix=f"fault-{name}",
    )
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        status_urls = [f"{relay.url}/api/status"]
        if (await probe(session, f"{relay.url}/readyz")).split(" ")[0] in ("200", "503"):
            status_urls.append(f"{relay.url}/readyz")  # newer servers have it
        scene = Scene(relay, load, row, args, database_url, session, status_urls)
        clients = [asyncio.create_task(client(session, load, n)) for n in range(args.clients)]
        try:
            await fault(scene)
        finally:
            for task in clients:
                task.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
    if relay.process is not None and relay.process.poll() is None:
        row.stop_s = await relay.signal_and_wait(signal.SIGTERM)
    row.sent, row.ok, row.status = load.sent, len(load.answered), summary(scene.seen)
    began, ended = scene.window
    row.ok_during = bisect.bisect(load.answered_at, ended) - bisect.bisect(load.answered_at, began)
    await tally(database_url, load, row)
    if load.failures:
        failed = ", ".join(f"{label} x{n:,}" for label, n in load.failures.most_common())
        row.notes.append(f"not answered ok: {failed}")
    row.notes += relay.log_notes()
    row.notes.append(f"server exit codes: {relay.exit_codes}")
    return row


def prepare(
    name: str, stack: ExitStack, args: argparse.Namespace
) -> tuple[Relay, str, Callable[[Scene], Awaitable[None]]]:
    """The server, the URL to count its events at, and the fault of one scenario; everything
    made here is undone by ``stack``, also on an error or Ctrl-C."""
    base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="llmrelay-faults-")))
    data_dir, env = base / "data", {}
    database_url: str | None = None
    fault: Callable[[Scene], Awaitable[None]]
    if name == "pgdown":
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None
        cluster = PostgresCluster(bin_dir)
        stack.callback(cluster.remove)
        cluster.create()
        env["LLMRELAY_DATABASE_URL"] = cluster.url.replace("+asyncpg", "")
        database_url = cluster.url

        async def fault(scene: Scene) -> None:
            await outage(scene, cluster.stop, cluster.start)

    elif name == "fulldisk":
        disk = TmpfsMount(base / "disk", args.tmpfs_mb)
        stack.callback(disk.unmount)
        disk.mount()
        data_dir = disk.folder

        async def fault(scene: Scene) -> None:
            await outage(scene, disk.fill, disk.empty)
            scene.row.notes.append(f"{disk.note} of database files")

    else:
        fault = fault_sigterm if name == "sigterm" else fault_sigkill
    relay = Relay(data_dir, env, base / "llmrelay.log")
    stack.callback(relay.kill)
    return relay, database_url or f"sqlite+aiosqlite:///{data_dir}/llmrelay.db", fault


COLUMNS = (
    "scenario",
    "sent",
    "answered ok",
    "ok during fault",
    "recorded",
    "unfinished",
    "lost",
    "audit lost",
    "stop s",
    "recover s",
    "/api/status during the fault",
)


def cells(row: Row) -> list[str]:
    def figure(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    stop = "-" if row.stop_s is None else f"{row.stop_s:.1f}"
    return [
        row.scenario,
        figure(row.sent),
        figure(row.ok),
        figure(row.ok_during),
        figure(row.recorded),
        figure(row.unfinished),
        figure(row.lost),
        figure(row.audit_lost),
        stop,
        row.recover_s,
        row.status,
    ]


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print()
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(cells(row)) + " |")
    print()
    print(
        f"({args.clients} clients, {args.duration:g} s of load per scenario, "
        f"faults of {args.outage:g} s; half the requests streamed)"
    )
    for row in rows:
        for note in row.notes:
            print(f"{row.scenario}: {note}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20, help="seconds of load (see above)")
    parser.add_argument("--outage", type=float, default=10, help="seconds PostgreSQL / disk gone")
    parser.add_argument("--tmpfs-mb", type=int, default=256, help="size of the fulldisk tmpfs")
    args = parser.parse_args()
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = parse_args()
    rows: list[Row] = []
    with upstream_process() as upstream_url:
        for name in args.scenarios:
            reason = unavailable(name)
            if reason is not None:
                rows.append(Row(name, status="skipped", notes=[f"skipped: {reason}"]))
                print(f"{name}: skipped: {reason}", flush=True)
                continue
            with ExitStack() as stack:
                relay, database_url, fault = prepare(name, stack, args)
                started = time.monotonic()
                row = asyncio.run(
                    run_scenario(name, relay, database_url, upstream_url, args, fault)
                )
                rows.append(row)
            print(
                f"{name}: {row.ok:,} answered, {row.lost:,} lost "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )
    print_table(rows, args)


if __name__ == "__main__":
    main()

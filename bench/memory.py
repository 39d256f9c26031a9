"""The relay's memory across rounds of 1,000 concurrent streams, and after its connections idle.

Starts the test upstream and ``llmrelay serve`` as processes (SQLite in a temporary folder),
then sends rounds of ``--streams`` concurrent streamed chat completions through
``POST /v1/chat/completions``, each read to its last byte. Prints the server's resident memory
(RSS, from ``/proc``) and its open connections to the upstream: at start, after each round,
after an optional soak (``--soak-s``: ``--soak-streams`` streams kept going for that long), and
once the idle connections' time (``actions.idle_connection_timeout_s``, 15 s) is up.

Run: ``.venv/bin/python bench/memory.py [--streams N] [--rounds R] [--soak-s S]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from processes import create_api_key, create_connector, llmrelay_process, upstream_process

IDLE_TIMEOUT_S = 15.0
CHAT = {"messages": [{"role": "user", "content": "Hello world"}], "stream": True}


def _relay_pid() -> int:
    """The ``llmrelay serve`` child of this process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"serve" in command and b"llmrelay" in command:
            return int(entry.name)
    raise RuntimeError("llmrelay serve is not running")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _connections_to(port: int) -> int:
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    fields = (line.split() for line in lines)
    return sum(1 for f in fields if f[3] == "01" and int(f[2].split(":")[1], 16) == port)


async def _stream(session: aiohttp.ClientSession, url: str, body: bytes) -> int:
    async with session.post(url, data=body) as response:
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
        if response.status != 200 or b"[DONE]" not in chunk:
            raise RuntimeError(f"stream failed: {response.status}")
        return size


async def _round(url: str, body: bytes, headers: dict[str, str], streams: int) -> float:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        await asyncio.gather(*(_stream(session, url, body) for _ in range(streams)))
        return time.perf_counter() - started


async def _soak(
    url: str, body: bytes, headers: dict[str, str], streams: int, duration_s: float
) -> int:
    done = 0
    deadline = time.monotonic() + duration_s

    async def keep_streaming(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await _stream(session, url, body)
            done += 1

    async with aiohttp.ClientSession(headers=headers) as session:
        await asyncio.gather(*(keep_streaming(session) for _ in range(streams)))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--soak-s", type=float, default=0.0, help="seconds of steady streams")
    parser.add_argument("--soak-streams", type=int, default=50, help="streams kept going")
    args = parser.parse_args()

    rows: list[tuple[str, float, int, str]] = []
    with (
        tempfile.TemporaryDirectory() as data_dir,
        upstream_process() as upstream_url,
        llmrelay_process(Path(data_dir)) as relay_url,
    ):
        upstream_port = urlsplit(upstream_url).port or 80
        connector_id = create_connector(relay_url, upstream_url)
        key = create_api_key(relay_url)["authorization"].removeprefix("ApiKey ")
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        url = f"{relay_url}/v1/chat/completions"
        body = json.dumps({**CHAT, "model": connector_id}).encode()
        pid = _relay_pid()

        def row(label: str, note: str = "") -> None:
            rows.append((label, _rss_mb(pid), _connections_to(upstream_port), note))

        row("start")
        for number in range(1, args.rounds + 1):
            took = asyncio.run(_round(url, body, headers, args.streams))
            row(f"after round {number}", f"{args.streams} streams in {took:.1f} s")
        if args.soak_s > 0:
            done = asyncio.run(_soak(url, body, headers, args.soak_streams, args.soak_s))
            row(f"after a {args.soak_s:g} s soak", f"{done} streams, {args.soak_streams} at once")
        time.sleep(IDLE_TIMEOUT_S + 2)
        row(f"{IDLE_TIMEOUT_S + 2:g} s idle later")

    print(f"{'when':24}{'RSS MB':>10}{'to upstream':>14}  note")
    for label, rss, connections, note in rows:
        print(f"{label:24}{rss:10.1f}{connections:14d}  {note}")


if __name__ == "__main__":
    main()

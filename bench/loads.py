"""Two ways to load a server: one request at a time (latency) and wrk at N connections (rate)."""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Target:
    """One POST request, sent identically to whichever server is measured."""

    url: str
    body: bytes
    headers: dict[str, str]


def sequential_latencies_ms(target: Target, count: int, warmup: int = 200) -> list[float]:
    """Latency of ``count`` requests sent one after another over one keep-alive connection."""
    parts = urlsplit(target.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    headers = {"content-type": "application/json", **target.headers}
    samples: list[float] = []
    try:
        for index in range(warmup + count):
            started = time.perf_counter_ns()
            connection.request("POST", parts.path, body=target.body, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed_ms = (time.perf_counter_ns() - started) / 1e6
            if response.status != 200:
                raise RuntimeError(f"{target.url} answered {response.status}")
            if index >= warmup:
                samples.append(elapsed_ms)
    finally:
        connection.close()
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk_requests_per_second(
    target: Target, connections: int, duration_s: int, threads: int = 1
) -> float:
    """Requests per second from wrk; refuses a run in which any answer was not 2xx."""
    lua = ["wrk.method = 'POST'", f"wrk.body = [=[{target.body.decode()}]=]"]
    headers = {"content-type": "application/json", **target.headers}
    lua += [f"wrk.headers['{name}'] = '{value}'" for name, value in headers.items()]
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text("\n".join(lua) + "\n")
        output = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration_s}s",
                "-s",
                str(script),
                target.url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw failures against {target.url}:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return float(match.group(1))

"""Start the test upstream and llmrelay as real processes for benchmarks, and stop them."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM_KEY = "sk-bench"
ENCRYPTION_KEY = "bench-encryption-key-0123456789-abcdefghij"
ADMIN_PASSWORD = "bench-admin-password-0123456789"
ADMIN_HEADERS = {
    "authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode(),
    "kbn-xsrf": "bench",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def upstream_process() -> Iterator[str]:
    """The test upstream (uvloop + httptools) in its own process; yields its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "upstream.py"),
            "--port",
            "0",
            "--api-key",
            UPSTREAM_KEY,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"upstream did not start: {line!r}")
        yield line.removeprefix("listening on ")
    finally:
        process.terminate()
        process.wait(10)


def wait_until_listening(url: str, process: subprocess.Popen[bytes], name: str) -> None:
    parts = urlsplit(url)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.1)


@contextmanager
def floor_process(upstream_url: str) -> Iterator[str]:
    """``floor_app.py`` forwarding to ``upstream_url``; yields the URL to POST to."""
    port = free_port()
    chat = f"{upstream_url}/v1/chat/completions"
    script = str(ROOT / "bench" / "floor_app.py")
    process = subprocess.Popen([sys.executable, script, "--port", str(port), "--upstream", chat])
    url = f"http://127.0.0.1:{port}/forward"
    try:
        wait_until_listening(url, process, "the floor forwarder")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def spawn_llmrelay(
    data_dir: Path,
    port: int,
    extra_env: dict[str, str] | None = None,
    stderr: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """``llmrelay serve`` on ``port``, not yet waited for: ``bench/faults.py`` restarts one on
    the same port and database after killing it, so starting and waiting are separate."""
    env = {
        **os.environ,
        "LLMRELAY_DATA_DIR": str(data_dir),
        "LLMRELAY_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "LLMRELAY_LOG_LEVEL": "warning",
        "LLMRELAY_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "llmrelay", "serve", "--port", str(port)], env=env, stderr=stderr
    )


def wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """Return once ``GET /api/status`` answers 200; raise if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            status, _ = request(url, "GET", "/api/status")
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("llmrelay did not start")
        time.sleep(0.1)


@contextmanager
def llmrelay_process(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """``llmrelay serve`` (one process, SQLite) in ``data_dir``; yields its base URL."""
    port = free_port()
    process = spawn_llmrelay(data_dir, port, extra_env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def request(
    base_url: str,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, object]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        all_headers = {"content-type": "application/json", **(headers or {})}
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        connection.close()


def create_connector(relay_url: str, upstream_url: str) -> str:
    status, created = request(
        relay_url,
        "POST",
        "/api/actions/connector",
        {
            "name": "bench",
            "connector_type_id": ".gen-ai",
            "config": {"apiProvider": "OpenAI", "apiUrl": f"{upstream_url}/v1/chat/completions"},
            "secrets": {"apiKey": UPSTREAM_KEY},
        },
        ADMIN_HEADERS,
    )
    if status != 200 or not isinstance(created, dict):
        raise RuntimeError(f"could not create the connector: {status} {created}")
    return str(created["id"])


def create_api_key(relay_url: str) -> dict[str, str]:
    """An API key of the superuser; the ``Authorization`` header that sends it."""
    status, created = request(
        relay_url, "POST", "/api/security/api_key", {"name": "bench"}, ADMIN_HEADERS
    )
    if status != 200 or not isinstance(created, dict):
        raise RuntimeError(f"could not create an API key: {status} {created}")
    return {"authorization": f"ApiKey {created['encoded']}"}

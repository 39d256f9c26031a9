"""`llmrelay serve` as a newcomer runs it: a real process, a real port, SQLite under ./data."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import ADMIN_USERNAME, TEST_ADMIN_PASSWORD, TEST_ENCRYPTION_KEY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_starts_on_sqlite_and_generates_a_private_key(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRELAY_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrelay", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert status is not None, "llmrelay serve did not answer"
        assert status.json()["status"] == "available"
        key_file = tmp_path / "data" / "encryption.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert (tmp_path / "data" / "llmrelay.db").exists()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    key = key_file.read_text().strip()
    assert "encryption.key" in stderr  # the warning says where the generated key is
    assert key not in stderr
    announced = [line for line in stderr.splitlines() if "created the superuser admin" in line]
    assert len(announced) == 1  # the generated password, shown once, on the console
    password = announced[0].split("with the password ")[1].split(" ")[0]
    assert len(password) >= 16


def test_serve_with_an_unreachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from llmrelay.cli import main

    env = {
        "LLMRELAY_DATA_DIR": str(tmp_path),
        "LLMRELAY_DATABASE_URL": f"postgresql://relay:hunter2@127.0.0.1:{free_port()}/x",
    }
    result = CliRunner(env=env).invoke(main, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1
    assert "cannot connect to the PostgreSQL database" in result.output
    assert "Traceback" not in result.output
    assert "hunter2" not in result.output


@contextlib.contextmanager
def _serving(tmp_path: Path, **server: object) -> Iterator[str]:
    """``llmrelay serve`` as a real process on a free loopback port; yields its base URL."""
    port = free_port()
    config = {
        "server": {"port": port, **server},
        "security": {
            "admin_password": TEST_ADMIN_PASSWORD,
            "password_hashing": {"time_cost": 1, "memory_cost_kib": 1024, "parallelism": 1},
        },
        "encryption_key": TEST_ENCRYPTION_KEY,
    }
    (tmp_path / "llmrelay.yml").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRELAY_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrelay", "--config", "llmrelay.yml", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"{base_url}/api/status", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _failed_logins(base_url: str) -> list[dict[str, object]]:
    found = httpx.get(
        f"{base_url}/api/security/audit/_find",
        params={"action": "authentication_failed"},
        auth=(ADMIN_USERNAME, TEST_ADMIN_PASSWORD),
    )
    assert found.status_code == 200, found.text
    data: list[dict[str, object]] = found.json()["data"]
    return data


def test_a_forged_x_forwarded_for_is_not_believed(tmp_path: Path) -> None:
    """uvicorn's default believes X-Forwarded-For from 127.0.0.1: a local client could pick
    its throttle address for each guess and write any source.address into the audit log."""
    with _serving(tmp_path) as base_url:
        timings = []
        for number in range(4):
            started = time.monotonic()
            answer = httpx.get(
                f"{base_url}/internal/security/me",
                auth=(f"sprayed{number}", "wrong-password"),
                headers={"x-forwarded-for": f"203.0.113.{number}"},
            )
            timings.append(time.monotonic() - started)
            assert answer.status_code == 401
        failed = _failed_logins(base_url)
    assert timings[3] >= 0.9  # the 4th failure from the same real address is held
    assert {str(e["source"]) for e in failed} == {str({"address": "127.0.0.1"})}
    assert all(e["network"] is None for e in failed)


def test_a_trusted_proxys_forwarded_address_is_recorded_beside_the_peer(tmp_path: Path) -> None:
    with _serving(tmp_path, trusted_proxies=["127.0.0.1"]) as base_url:
        answer = httpx.get(
            f"{base_url}/internal/security/me",
            auth=("someone", "wrong-password"),
            headers={"x-forwarded-for": "198.51.100.1, 203.0.113.9"},
        )
        assert answer.status_code == 401
        failed = _failed_logins(base_url)
    assert [(e["source"], e["network"]) for e in failed] == [
        ({"address": "127.0.0.1"}, {"forwarded_ip": "203.0.113.9"})
    ]

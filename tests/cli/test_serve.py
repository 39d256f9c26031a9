"""`llmrelay serve` as a newcomer runs it: a real process, a real port, SQLite under ./data."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx


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

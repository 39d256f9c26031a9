"""``llmrelay serve`` refuses request heads past ``server.max_header_bytes`` while they arrive.

A real ``llmrelay serve`` process on a loopback port, spoken to over raw sockets: a 200 MB
header is answered 431 long before it is sent whole, the server's memory does not grow with it,
and the server keeps serving; heads under the limit work as before.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_ADMIN_PASSWORD

DEFAULT_LIMIT = 32 * 1024
ONE_MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def status(self, **headers: str) -> int:
        response = httpx.get(f"http://127.0.0.1:{self.port}/api/status", headers=headers)
        return response.status_code


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("serving")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRELAY_")}
    env.update(
        LLMRELAY_DATA_DIR=str(data),
        LLMRELAY_ADMIN_PASSWORD=TEST_ADMIN_PASSWORD,
        LLMRELAY_LOG_LEVEL="warning",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrelay", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Served(process, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if server.status() == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "serve exited"
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.communicate(timeout=15)


def _send_head(port: int, head: bytes, header_bytes: int) -> tuple[bytes, int]:
    """Send ``head`` and then a header value of ``header_bytes``, a MiB at a time, reading the
    answer meanwhile; the answer and how much of the value the server took before closing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent = 0
    answer = bytearray()

    def send() -> None:
        nonlocal sent
        piece = b"a" * ONE_MIB
        try:
            sock.sendall(head)
            while sent < header_bytes:
                sock.sendall(piece[: header_bytes - sent])
                sent += min(ONE_MIB, header_bytes - sent)
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # the server closed the connection: what a refusal looks like to a sender

    sender = threading.Thread(target=send)
    sender.start()
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except OSError:
        pass
    sender.join(60)
    sock.close()
    return bytes(answer), sent


def test_a_200_mb_header_is_refused_with_431_while_it_arrives(served: Served) -> None:
    before = served.rss_bytes()
    head = b"GET /api/status HTTP/1.1\r\nHost: relay\r\nX-Big: "
    answer, sent = _send_head(served.port, head, 200 * ONE_MIB)
    after = served.rss_bytes()
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert answer.endswith(
        b"Request Header Fields Too Large: the request line and headers exceed 32768 bytes"
    )
    assert sent < 50 * ONE_MIB  # refused long before the header was sent whole
    assert after - before < 32 * ONE_MIB  # (it grew by about 250 MB before the limit)
    assert served.status() == 200  # and the server goes on serving


def test_a_head_over_the_limit_in_one_piece_is_refused(served: Served) -> None:
    value = "a" * (DEFAULT_LIMIT + 1)
    head = f"GET /api/status HTTP/1.1\r\nHost: relay\r\nX-Big: {value}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(head)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"connection: close" in answer


def test_heads_under_the_limit_are_served(served: Served) -> None:
    assert served.status(**{"x-big": "a" * (DEFAULT_LIMIT - 1024)}) == 200
    many = {f"x-header-{n}": "v" * 100 for n in range(200)}  # 200 lines, 22 KB
    assert served.status(**many) == 200

"""nginx (TLS, client certificates) and squid (forward proxy) as real processes on loopback.

Each runs as a child of the test process with its configuration, logs and pid file in a
temporary directory and a free loopback port; nothing is installed as a service and nothing
listens beyond 127.0.0.1. ``require`` skips the tests on a machine without the Debian packages
(``nginx-light``, ``squid``) and fails them under ``CI=true``.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.components import require

NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")
SQUID_CANDIDATES = ("squid", "/usr/sbin/squid")
NCSA_AUTH = Path("/usr/lib/squid/basic_ncsa_auth")


def _find(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}: {detail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} did not listen on 127.0.0.1:{port}")


@contextmanager
def _running(command: list[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        _wait_for_port(port, process, log)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# --- nginx ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nginx:
    port: int
    directory: Path

    def url(self, host: str = "127.0.0.1", path: str = "/v1/chat/completions") -> str:
        return f"https://{host}:{self.port}{path}"


_CLIENT_CERT_ERRORS = """
        error_page 495 = @bad_client_certificate;
        error_page 496 = @no_client_certificate;
        location @bad_client_certificate {
            default_type application/json;
            return 400 '{"error":{"message":"The SSL certificate error: $ssl_client_verify"}}';
        }
        location @no_client_certificate {
            default_type application/json;
            return 400 '{"error":{"message":"No required SSL certificate was sent"}}';
        }
"""


@contextmanager
def nginx_tls(
    directory: Path,
    upstream_port: int,
    *,
    certificate: Path,
    key: Path,
    client_ca: Path | None = None,
) -> Iterator[Nginx]:
    """nginx terminating TLS in front of ``127.0.0.1:upstream_port``, streaming unbuffered.

    With ``client_ca`` it demands a client certificate issued by that CA
    (``ssl_verify_client on``) and answers 400 with an OpenAI-style error body when there is
    none or it does not verify, as nginx does (the body is made JSON so the message shows).
    """
    binary = _find(NGINX_CANDIDATES)
    require("nginx", binary is not None, "install the Debian package nginx-light")
    assert binary is not None
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    client = ""
    if client_ca is not None:
        client = f"ssl_client_certificate {client_ca};\n        ssl_verify_client on;\n"
        client += _CLIENT_CERT_ERRORS
    temp = {k: directory / k for k in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    config = directory / "nginx.conf"
    config.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        {client}
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
""")
    command = [binary, "-p", str(directory), "-e", str(directory / "error.log"), "-c", str(config)]
    with _running(command, port, directory / "stderr.log"):
        yield Nginx(port, directory)


# --- squid ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Squid:
    port: int
    directory: Path
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def access_log(self) -> list[str]:
        """Lines of squid's access log (``... TCP_TUNNEL/200 ... CONNECT 127.0.0.1:443 ...``)."""
        path = self.directory / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def wait_for_log(self, needle: str, timeout_s: float = 5.0) -> list[str]:
        """squid writes a line when a transaction ends; wait for one containing ``needle``."""
        deadline = time.monotonic() + timeout_s
        while True:
            lines = [line for line in self.access_log() if needle in line]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


def _md5_crypt(password: str) -> str:
    result = subprocess.run(
        ["openssl", "passwd", "-1", password], check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


@contextmanager
def squid_proxy(
    *, user: str | None = None, password: str = "", tls: tuple[str, str] | None = None
) -> Iterator[Squid]:
    """squid as a forward proxy on loopback; with ``user`` it demands basic proxy auth.

    With ``tls`` (certificate PEM, key PEM) it is an ``https://`` proxy (``https_port``).

    Started as root, squid works as the "proxy" user, which cannot enter pytest's private
    temporary directories: its own directory is made directly under the system's.
    """
    binary = _find(SQUID_CANDIDATES)
    require("squid", binary is not None, "install the Debian package squid")
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="llmrelay-squid-") as name:
        directory = Path(name)
        directory.chmod(0o777)
        with _squid(binary, directory, user, password, tls) as squid:
            yield squid


@contextmanager
def _squid(
    binary: str, directory: Path, user: str | None, password: str, tls: tuple[str, str] | None
) -> Iterator[Squid]:
    port = free_port()
    listen = f"http_port 127.0.0.1:{port}"
    if tls is not None:
        certificate, key = directory / "proxy.crt", directory / "proxy.key"
        certificate.write_text(tls[0])
        key.write_text(tls[1])
        key.chmod(0o644)  # a throw-away test key, readable by the "proxy" user
        listen = f"https_port 127.0.0.1:{port} tls-cert={certificate} tls-key={key}"
    access = "http_access allow loopback"
    auth = ""
    if user is not None:
        require("squid", NCSA_AUTH.exists(), f"{NCSA_AUTH} is missing")
        passwords = directory / "passwd"
        passwords.write_text(f"{user}:{_md5_crypt(password)}\n")
        passwords.chmod(0o644)
        auth = (
            f"auth_param basic program {NCSA_AUTH} {passwords}\n"
            "auth_param basic realm llmrelay-test\n"
            "acl authenticated proxy_auth REQUIRED\n"
        )
        access = "http_access allow loopback authenticated"
    config = directory / "squid.conf"
    config.write_text(f"""
{listen}
visible_hostname llmrelay-test-proxy
pid_filename {directory}/squid.pid
access_log stdio:{directory}/access.log squid
cache_log {directory}/cache.log
cache_store_log none
coredump_dir {directory}
cache deny all
cache_mem 8 MB
pinger_enable off
shutdown_lifetime 0 seconds
{auth}
acl loopback src 127.0.0.1/32 ::1
{access}
http_access deny all
""")
    command = [binary, "-N", "-f", str(config)]
    with _running(command, port, directory / "stderr.log"):
        yield Squid(port, directory, "http" if tls is None else "https")


def established_to(port: int) -> int:
    """Open TCP connections on this machine to ``127.0.0.1:port`` (their client ends), counted
    from ``/proc/net/tcp`` as ``ss`` would: what an idle-connection test must see drop to 0."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and int(remote.split(":")[1], 16) == port:
            count += 1
    return count

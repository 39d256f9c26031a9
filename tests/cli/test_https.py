"""``llmrelay serve`` with ``server.ssl.*``: HTTPS on a real port, and a Secure session cookie."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cli.test_serve import free_port
from tests.conftest import TEST_ADMIN_PASSWORD, TEST_ENCRYPTION_KEY


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_serve_over_https_marks_the_session_cookie_secure(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = tmp_path / "llmrelay.yml"
    config.write_text(
        f"server:\n  ssl:\n    enabled: true\n    certificate: {cert}\n    key: {key}\n"
        "security:\n  password_hashing: {time_cost: 1, memory_cost_kib: 1024, parallelism: 1}\n",
        encoding="utf-8",
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRELAY_")}
    env |= {
        "LLMRELAY_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
        "LLMRELAY_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
        "LLMRELAY_DATA_DIR": str(tmp_path / "data"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrelay", "--config", str(config), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    trust = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"{base}/api/status", verify=trust, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, verify=trust, headers={"kbn-xsrf": "1"}) as browser:
            login = browser.post(
                "/internal/security/login",
                json={"params": {"username": "admin", "password": TEST_ADMIN_PASSWORD}},
            )
            assert login.status_code == 200, login.text
            assert "secure" in login.headers["set-cookie"].lower()
            assert browser.get("/internal/security/me").json()["username"] == "admin"
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2)
            plain_http_answered = True
        except httpx.TransportError:
            plain_http_answered = False
        assert not plain_http_answered
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    assert TEST_ADMIN_PASSWORD not in stderr

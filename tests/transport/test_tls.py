"""SSLContexts from in-memory PEM: verification modes, client keys never written in clear."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

import pytest

from llmrelay.transport import ClientCertificate, TlsSettings, normalise_pem
from llmrelay.transport.tls import build_ssl_context
from tests.transport.certificates import issue, make_ca

CA = make_ca()
CLIENT = issue(CA, "client", client=True)


@pytest.mark.parametrize(
    ("mode", "check_hostname", "verify_mode"),
    [
        ("full", True, ssl.CERT_REQUIRED),
        ("certificate", False, ssl.CERT_REQUIRED),
        ("none", False, ssl.CERT_NONE),
    ],
)
def test_verification_modes(mode: str, check_hostname: bool, verify_mode: int) -> None:
    context = build_ssl_context(TlsSettings(mode, CA.certificate_pem))  # type: ignore[arg-type]
    assert context.check_hostname is check_hostname
    assert context.verify_mode == verify_mode


def test_a_given_ca_replaces_the_system_roots() -> None:
    context = build_ssl_context(TlsSettings("full", CA.certificate_pem))
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "llmrelay test CA"),),)
    ]


def _capture_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    written: list[bytes] = []
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        written.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    return written


def _key_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))[:64]


@pytest.mark.parametrize("memfd", [True, False])
def test_the_client_key_is_loaded_without_ever_being_written_in_clear(
    monkeypatch: pytest.MonkeyPatch, memfd: bool
) -> None:
    if not memfd:
        monkeypatch.delattr(os, "memfd_create", raising=False)
    elif not hasattr(os, "memfd_create"):
        pytest.skip("this system has no memfd_create")
    before = set(Path(tempfile.gettempdir()).glob("llmrelay-tls-*"))
    written = _capture_writes(monkeypatch)
    client = ClientCertificate(CLIENT.certificate_pem, CLIENT.key_pem)
    context = build_ssl_context(TlsSettings("full", CA.certificate_pem, client))
    assert isinstance(context, ssl.SSLContext)
    assert len(written) == 1
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in written[0]
    assert _key_body(CLIENT.key_pem).encode() not in written[0]
    assert set(Path(tempfile.gettempdir()).glob("llmrelay-tls-*")) == before  # nothing left


def test_a_key_that_does_not_match_is_refused_by_openssl_too() -> None:
    other = issue(CA, "other", client=True)
    client = ClientCertificate(CLIENT.certificate_pem, other.key_pem)
    with pytest.raises(ssl.SSLError):
        build_ssl_context(TlsSettings("full", None, client))


def test_secrets_are_not_in_reprs() -> None:
    settings = TlsSettings("full", CA.certificate_pem, ClientCertificate("cert", CLIENT.key_pem))
    assert _key_body(CLIENT.key_pem) not in repr(settings)


def test_pem_pasted_on_one_line_is_rewrapped() -> None:
    one_line = " ".join(CLIENT.certificate_pem.splitlines())
    assert normalise_pem(one_line) == CLIENT.certificate_pem
    assert normalise_pem("not a pem") == "not a pem"

"""SSLContexts from a verification mode and in-memory PEM (client certificate, key, CA).

Python's ``ssl`` module loads a client certificate and key only from files
(``SSLContext.load_cert_chain``). The private key must never be written to disk in clear, so it
is re-encrypted with a random one-time password (PKCS #8, ``BestAvailableEncryption``), written
with the certificate into an anonymous memory file (``memfd_create``: it has no name in any file
system and lives in RAM), loaded through ``/proc/self/fd/<n>`` with that password, and the file is
closed at once. Where ``memfd_create`` does not exist, a 0600 file in a fresh 0700 temporary
directory is used instead and removed right after loading; it only ever holds the encrypted key.
CA certificates need no file: ``load_verify_locations(cadata=...)`` takes them from memory.

The checks here parse the material for real (``cryptography``): a header that merely looks
right, an expired certificate or a key that belongs to another certificate is refused before a
connector is saved, not at the first TLS handshake.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import ssl
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from llmrelay.settings import VerificationMode

_PEM_BLOCK = re.compile(
    r"^-----BEGIN (CERTIFICATE|PRIVATE KEY|RSA PRIVATE KEY)-----(.*)-----END \1-----$", re.DOTALL
)


_SIGNING_KEYS = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


class TlsMaterialError(ValueError):
    """PEM material that cannot be used; the message says why, ``part`` which piece it is."""

    def __init__(self, message: str, part: str) -> None:
        super().__init__(message)
        self.part = part


def normalise_pem(text: str) -> str:
    """Kibana's PEM clean-up: whitespace collapsed, the base64 body re-wrapped at 64 columns.

    Pasting a PEM into a form often turns its newlines into spaces; OpenSSL refuses that. Text
    whose header and footer are not at its ends is returned unchanged.
    """
    collapsed = " ".join(text.split())
    match = _PEM_BLOCK.match(collapsed)
    if not match:
        return text
    label, body = match.group(1), "".join(match.group(2).split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Validity:
    part: str
    not_before: datetime
    not_after: datetime

    def check(self, now: datetime) -> None:
        if self.not_after < now:
            raise TlsMaterialError(
                f"the certificate expired on {_timestamp(self.not_after)}", self.part
            )
        if self.not_before > now:
            raise TlsMaterialError(
                f"the certificate is not valid before {_timestamp(self.not_before)}", self.part
            )


def _certificates(pem: str, part: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise TlsMaterialError("the PEM data is not a valid X.509 certificate", part) from None


def _check_key(certificate: x509.Certificate, key_pem: str) -> None:
    """The key parses, needs no passphrase, and is the certificate's own key."""
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:
        raise TlsMaterialError(
            "the private key is encrypted; give it without a passphrase", "key"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsMaterialError("the PEM data is not a valid private key", "key") from None
    if not isinstance(key, _SIGNING_KEYS):
        raise TlsMaterialError(
            "the private key is of a kind TLS client certificates cannot use", "key"
        )
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        certified = certificate.public_key().public_bytes(*raw)
    except (ValueError, UnsupportedAlgorithm):
        message = "the certificate's key is of an unsupported kind"
        raise TlsMaterialError(message, "certificate") from None
    if key.public_key().public_bytes(*raw) != certified:
        raise TlsMaterialError("the private key does not belong to the certificate", "key")


class ClientMaterialChecks:
    """Parses a client certificate, its key and an optional CA for real; remembers what passed.

    Secrets are validated before every execution, and checking an RSA key costs tens of
    milliseconds, so material that parsed once is remembered (by a SHA-256 digest, never the
    PEM itself) and only its validity period is checked again: a certificate that expires
    after it was saved is refused from then on.
    """

    def __init__(self, remembered: int = 256) -> None:
        self._remembered = remembered
        self._validity: OrderedDict[bytes, tuple[_Validity, ...]] = OrderedDict()

    def check(self, certificate_pem: str, key_pem: str, ca_pem: str | None = None) -> None:
        """Raise ``TlsMaterialError`` (``part``: certificate, key or ca) for unusable material."""
        digest = hashlib.sha256(
            b"\0".join(p.encode() for p in (certificate_pem, key_pem, ca_pem or ""))
        ).digest()
        validity = self._validity.get(digest)
        if validity is None:
            validity = self._parse(certificate_pem, key_pem, ca_pem)
            self._validity[digest] = validity
            if len(self._validity) > self._remembered:
                self._validity.popitem(last=False)
        else:
            self._validity.move_to_end(digest)
        now = datetime.now(UTC)
        for period in validity:
            period.check(now)

    @staticmethod
    def _parse(certificate_pem: str, key_pem: str, ca_pem: str | None) -> tuple[_Validity, ...]:
        certificates = _certificates(certificate_pem, "certificate")
        periods = [
            _Validity("certificate", c.not_valid_before_utc, c.not_valid_after_utc)
            for c in certificates
        ]
        periods[0].check(datetime.now(UTC))  # an expired certificate is named before its key
        _check_key(certificates[0], key_pem)
        if ca_pem:
            periods.extend(
                _Validity("ca", c.not_valid_before_utc, c.not_valid_after_utc)
                for c in _certificates(ca_pem, "ca")
            )
        return tuple(periods)


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate (chain) and its key, as PEM text; never shown in a repr."""

    certificate_pem: str = field(repr=False)
    key_pem: str = field(repr=False)


@dataclass(frozen=True)
class TlsSettings:
    """Everything that shapes one SSLContext; hashable, so contexts and pools can be shared.

    ``ca_pem`` *replaces* the system's trusted roots, as Node's ``ca`` option does in Kibana.
    """

    verification_mode: VerificationMode = "full"
    ca_pem: str | None = field(default=None, repr=False)
    client: ClientCertificate | None = None


DEFAULT_TLS = TlsSettings()


@contextmanager
def _key_file(content: bytes) -> Iterator[str]:
    """A path whose content is ``content`` while the block runs; gone afterwards."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and Path("/proc/self/fd").is_dir():
        fd = memfd_create("llmrelay-client-key", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, content)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="llmrelay-tls-") as directory:
        path = Path(directory) / "client.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        try:
            yield str(path)
        finally:
            path.unlink()


def _load_client(context: ssl.SSLContext, client: ClientCertificate) -> None:
    key = serialization.load_pem_private_key(client.key_pem.encode(), password=None)
    password = secrets.token_bytes(32)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    with _key_file(client.certificate_pem.encode() + b"\n" + encrypted) as path:
        context.load_cert_chain(path, password=password)


def build_ssl_context(settings: TlsSettings) -> ssl.SSLContext:
    """``full``: chain and host name; ``certificate``: chain only; ``none``: nothing checked."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if settings.verification_mode == "none":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.check_hostname = settings.verification_mode == "full"
        context.verify_mode = ssl.CERT_REQUIRED
        if settings.ca_pem:
            context.load_verify_locations(cadata=settings.ca_pem)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if settings.client is not None:
        _load_client(context, settings.client)
    return context


__all__ = [
    "DEFAULT_TLS",
    "ClientCertificate",
    "ClientMaterialChecks",
    "TlsMaterialError",
    "TlsSettings",
    "build_ssl_context",
    "normalise_pem",
]

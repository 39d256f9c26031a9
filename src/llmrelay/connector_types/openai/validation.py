"""The checks Kibana runs after the schema: URL, allowed hosts, and the PKI rules.

Messages are Kibana's, word for word (``configValidator`` / ``secretsValidator`` in
``server/connector_types/openai/index.ts`` and ``lib/other_openai_utils.ts``). Kibana only looks
for a PEM header; after its checks pass, the material is parsed for real (an expired
certificate, a key of another certificate, a header around garbage are refused here, naming the
field, rather than failing at the first TLS handshake).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from urllib.parse import urlsplit

from llmrelay.errors import BadRequestError
from llmrelay.transport import (
    ClientMaterialChecks,
    NetworkPolicy,
    TlsMaterialError,
    normalise_pem,
)

CERTIFICATE_HEADER = "-----BEGIN CERTIFICATE-----"
PRIVATE_KEY_HEADERS = ("-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----")
NOT_AN_API_KEY = "[apiKey]: expected value of type [string] but got [undefined]"
MAX_HOST_LENGTH = 253
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f-\x9f\s]")
_NAMES = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\x00": "a NUL character"}
_NAMES |= {" ": "a space", "\t": "a tab"}


def _unsendable(url: str) -> str | None:
    """What in ``url`` cannot go on a request line: whitespace or a control character. Python's
    URL parser drops CR, LF and tab silently, so the URL saved would not be the URL sent."""
    found = _UNSENDABLE.search(url)
    if found is None:
        return None
    char = found.group()
    return _NAMES.get(char, f"the control or space character U+{ord(char):04X}")


def _host_problem(host: str) -> str | None:
    """Why ``host`` is no DNS name (a label over 63 characters, an empty label, over 253 in
    all): refused when saved rather than failing every execution."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        encoded = host.encode("idna")
    except UnicodeError:
        return "has a label that is empty or longer than 63 characters"
    if len(encoded.rstrip(b".")) > MAX_HOST_LENGTH:
        return f"is longer than {MAX_HOST_LENGTH} characters"
    return None


def assert_url(url: str) -> None:
    """Kibana's ``assertURL``: parseable, with a host name, over http or https; and (not
    Kibana's checks, which let these be saved and then fail every run) nothing that cannot be
    sent: whitespace, control characters, a host name DNS cannot hold."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        raise BadRequestError("URL Error: Invalid URL") from None
    if not parts.scheme or not parts.netloc:
        raise BadRequestError("URL Error: Invalid URL")
    if not parts.hostname:
        raise BadRequestError("URL Error: URL must contain hostname")
    problem = _host_problem(parts.hostname)
    if problem is not None:
        raise BadRequestError(f"URL Error: Invalid URL: the host name of apiUrl {problem}")
    if parts.scheme not in ("http", "https"):
        raise BadRequestError("URL Error: Invalid protocol")
    unsendable = _unsendable(url)
    if unsendable is not None:
        raise BadRequestError(f"URL Error: Invalid URL: apiUrl contains {unsendable}")
    if parts.username is not None or parts.password is not None:
        # not a Kibana check: credentials in a URL end up in logs, events and the UI
        raise BadRequestError(
            "URL Error: apiUrl must not contain credentials (user:password@); "
            "put the API key in secrets"
        )


def validate_api_url(url: str, policy: NetworkPolicy) -> None:
    """Raise with Kibana's full ``Error configuring OpenAI action: ...`` wording."""
    try:
        assert_url(url)
        if not policy.is_host_allowed(url):
            raise BadRequestError(f"error validating url: {NetworkPolicy.allow_list_message(url)}")
    except BadRequestError as exc:
        raise BadRequestError(f"Error configuring OpenAI action: Error: {exc.message}") from None


def decoded_pem(data: str) -> str:
    """A base64-encoded PEM secret as PEM text, cleaned up the way Kibana does before use."""
    return normalise_pem(_decoded(data))


def _decoded(data: str) -> str:
    try:
        return base64.b64decode(data, validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""


def _check_pem(data: str, headers: tuple[str, ...], description: str, kind: str) -> None:
    if not any(header in _decoded(data) for header in headers):
        expected = " or ".join(f'"{h}"' for h in headers)
        raise BadRequestError(
            f"Invalid {description} file format: The file must be a PEM-encoded {kind} "
            f"beginning with {expected}."
        )


def validate_secret_rules(
    secrets: dict[str, str], checks: ClientMaterialChecks | None = None
) -> None:
    """PKI when a certificate or key is given (for any provider), else an API key is required.

    With ``checks``, PKI material that passes Kibana's checks is then parsed for real.
    """
    certificate = secrets.get("certificateData")
    private_key = secrets.get("privateKeyData")
    if not (certificate or private_key):
        if not secrets.get("apiKey"):
            raise BadRequestError(NOT_AN_API_KEY)
        return
    if not certificate:
        raise BadRequestError("Certificate data must be provided for PKI")
    if not private_key:
        raise BadRequestError("Private key data must be provided for PKI")
    _check_pem(certificate, (CERTIFICATE_HEADER,), "Certificate data", "certificate")
    _check_pem(private_key, PRIVATE_KEY_HEADERS, "Private key data", "private key")
    ca = secrets.get("caData")
    if ca:
        _check_pem(ca, (CERTIFICATE_HEADER,), "CA certificate data", "certificate")
    if checks is None:
        return
    try:
        checks.check(
            decoded_pem(certificate), decoded_pem(private_key), decoded_pem(ca) if ca else None
        )
    except TlsMaterialError as exc:
        raise BadRequestError(f"Invalid {_FIELDS[exc.part]}: {exc}") from None


_FIELDS = {
    "certificate": "Certificate data",
    "key": "Private key data",
    "ca": "CA certificate data",
}

"""Connection, TLS and aiohttp failures in the words Kibana users know (Node/axios error codes).

``connect ECONNREFUSED 127.0.0.1:1234``, ``timeout of 60000ms exceeded``, OpenSSL verify codes
under Node's names (``ERR_TLS_CERT_ALTNAME_INVALID``, ``UNABLE_TO_VERIFY_LEAF_SIGNATURE``): the
connector type matches on them for Kibana's PKI hints. Nothing outside ``transport`` sees an
aiohttp exception.
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

import aiohttp

from llmrelay.errors import TransportError


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def timed_out(timeout_s: float) -> TransportError:
    return TransportError(f"timeout of {round(timeout_s * 1000)}ms exceeded", code="ECONNABORTED")


def hang_up() -> TransportError:
    """The server closed the connection before its answer was complete."""
    return TransportError("socket hang up", code="ECONNRESET")


def parse_error(reason: str) -> TransportError:
    """An answer that is not HTTP (Node's wording for what its parser refused)."""
    return TransportError(f"Parse Error: {reason}", code="HPE_INVALID_RESPONSE")


def connect_failed(error: OSError, host: str | None, port: int | None) -> TransportError:
    """Connecting to ``host:port`` failed with ``error``."""
    if isinstance(error, socket.gaierror):
        return TransportError(f"getaddrinfo ENOTFOUND {host}", code="ENOTFOUND")
    address = f"{host}:{port}"
    if isinstance(error, ConnectionRefusedError):
        return TransportError(f"connect ECONNREFUSED {address}", code="ECONNREFUSED")
    return TransportError(f"connect failed {address}: {error}", code="ECONNERROR")


def too_large(limit: int) -> TransportError:
    return TransportError(f"maxContentLength size of {limit} exceeded", code="ERR_BAD_RESPONSE")


def expanded_too_far(ratio: float) -> TransportError:
    """A compressed stream that decodes to more than ``ratio`` times its size on the wire."""
    return TransportError(
        f"decompressed stream exceeds {ratio:g} times its compressed size "
        "(actions.max_decompression_ratio)",
        code="ERR_BAD_RESPONSE",
    )


_VERIFY_CODES = {
    2: "UNABLE_TO_GET_ISSUER_CERT",
    9: "CERT_NOT_YET_VALID",
    10: "CERT_HAS_EXPIRED",
    18: "DEPTH_ZERO_SELF_SIGNED_CERT",
    19: "SELF_SIGNED_CERT_IN_CHAIN",
    20: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    21: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    62: "ERR_TLS_CERT_ALTNAME_INVALID",  # host name mismatch
    64: "ERR_TLS_CERT_ALTNAME_INVALID",  # IP address mismatch
}
"""OpenSSL verify codes → the codes Node reports (Kibana's PKI error rewrites match on them)."""


def tls_failure(error: ssl.SSLError) -> TransportError:
    """A failed TLS handshake: the certificate's verify code under Node's name, or the reason."""
    tls = _tls_error(error)
    assert tls is not None
    return tls


def _tls_error(error: BaseException) -> TransportError | None:
    if isinstance(error, ssl.SSLCertVerificationError):
        verify_code = error.verify_code or 0
        code = _VERIFY_CODES.get(verify_code, f"ERR_TLS_CERT_VERIFY_{verify_code}")
        message = (error.verify_message or str(error)).rstrip(".")
        return TransportError(message, code=code)
    if isinstance(error, ssl.SSLError):
        reason = str(error.reason or "HANDSHAKE")
        return TransportError(f"TLS handshake failed ({reason.lower()})", code=f"ERR_SSL_{reason}")
    return None


def translate(exc: BaseException, timeout_s: float, url: str) -> TransportError:
    if isinstance(exc, TimeoutError):
        return timed_out(timeout_s)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return TransportError(
            f"proxy refused the tunnel to {_host_port(url)}: {exc.status} {exc.message}",
            code="ERR_PROXY_CONNECT",
        )
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ClientConnectorCertificateError):
        tls = _tls_error(getattr(exc, "certificate_error", None) or exc.os_error)
        if tls is not None:
            return tls
    if isinstance(exc, ssl.SSLError):
        tls = _tls_error(exc)
        if tls is not None:
            return tls
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        proxy = f"{exc.host}:{exc.port}"
        if isinstance(exc.os_error, ConnectionRefusedError):
            return TransportError(f"connect ECONNREFUSED {proxy} (the proxy)", code="ECONNREFUSED")
        if isinstance(exc.os_error, socket.gaierror):
            return TransportError(f"getaddrinfo ENOTFOUND {exc.host} (the proxy)", code="ENOTFOUND")
        return TransportError(
            f"connect failed {proxy} (the proxy): {exc.os_error}", code="ECONNERROR"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return connect_failed(exc.os_error, parts.hostname, port)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return hang_up()
    if isinstance(exc, aiohttp.ClientOSError):
        return TransportError(f"socket error: {exc.strerror or exc}", code="ECONNRESET")
    return TransportError(str(exc) or type(exc).__name__, code="")


ERRORS = (aiohttp.ClientError, TimeoutError, ssl.SSLError)

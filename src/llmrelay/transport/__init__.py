"""Outbound HTTP: URLs, hosts, proxies, TLS, timeouts and size limits; nothing about connectors."""

from __future__ import annotations

from llmrelay.transport.clients import HttpClientPool, HttpResponse, HttpStream, OutboundHttp
from llmrelay.transport.policy import NetworkPolicy, ProxyRoute, Route
from llmrelay.transport.sse import SSEDecoder, SSEEvent, iter_sse_events
from llmrelay.transport.tls import (
    ClientCertificate,
    ClientMaterialChecks,
    TlsMaterialError,
    TlsSettings,
    normalise_pem,
)

__all__ = [
    "ClientCertificate",
    "ClientMaterialChecks",
    "HttpClientPool",
    "HttpResponse",
    "HttpStream",
    "NetworkPolicy",
    "OutboundHttp",
    "ProxyRoute",
    "Route",
    "SSEDecoder",
    "SSEEvent",
    "TlsMaterialError",
    "TlsSettings",
    "iter_sse_events",
    "normalise_pem",
]

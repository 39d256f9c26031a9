"""Outbound HTTP: knows URLs, hosts, timeouts and size limits; nothing about connectors."""

from __future__ import annotations

from llmrelay.transport.clients import HttpClientPool, HttpResponse, HttpStream, OutboundHttp
from llmrelay.transport.policy import NetworkPolicy
from llmrelay.transport.sse import SSEDecoder, SSEEvent, iter_sse_events

__all__ = [
    "HttpClientPool",
    "HttpResponse",
    "HttpStream",
    "NetworkPolicy",
    "OutboundHttp",
    "SSEDecoder",
    "SSEEvent",
    "iter_sse_events",
]

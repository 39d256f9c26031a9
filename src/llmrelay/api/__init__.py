"""The HTTP API: Kibana-compatible routes, wire shapes, and error mapping."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from llmrelay.api import connectors, event_log, openai_compat, security, status, usage
from llmrelay.api.errors import EXCEPTION_HANDLERS
from llmrelay.api.guards import PageSecurityHeaders
from llmrelay.api.relayed import RelayedRoutes
from llmrelay.api.request_guards import RequestGuard

ROUTES: list[BaseRoute] = [
    # the relayed paths first: the router tries each route in order, on every request
    *connectors.routes,
    *openai_compat.routes,
    *status.routes,
    *event_log.routes,
    *security.routes,
    *usage.routes,
]

RELAYED_ROUTES: list[Route] = [connectors.execute_route, *openai_compat.chat_routes]
"""Answered by ``RelayedRoutes`` without Starlette's layers (they stay in ``ROUTES`` too)."""

__all__ = [
    "EXCEPTION_HANDLERS",
    "RELAYED_ROUTES",
    "ROUTES",
    "PageSecurityHeaders",
    "RelayedRoutes",
    "RequestGuard",
]

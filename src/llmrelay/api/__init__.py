"""The HTTP API: Kibana-compatible routes, wire shapes, and error mapping."""

from __future__ import annotations

from starlette.routing import BaseRoute

from llmrelay.api import connectors, event_log, status, usage
from llmrelay.api.errors import EXCEPTION_HANDLERS
from llmrelay.api.guards import KibanaRequestGuard

ROUTES: list[BaseRoute] = [*status.routes, *connectors.routes, *event_log.routes, *usage.routes]

__all__ = ["EXCEPTION_HANDLERS", "ROUTES", "KibanaRequestGuard"]

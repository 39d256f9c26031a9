"""The HTTP API: Kibana-compatible routes, wire shapes, and error mapping."""

from __future__ import annotations

from llmrelay.api.connectors import router as connectors_router
from llmrelay.api.errors import install_error_handlers
from llmrelay.api.guards import KibanaRequestGuard
from llmrelay.api.status import router as status_router

__all__ = ["KibanaRequestGuard", "connectors_router", "install_error_handlers", "status_router"]

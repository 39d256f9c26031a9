"""The web UI: server-rendered pages (Jinja2) with small own scripts calling the JSON API."""

from __future__ import annotations

from starlette.routing import BaseRoute

from llmrelay.ui import assets, connectors, usage


def ui_routes() -> list[BaseRoute]:
    """The pages and their static files; built per app (the template environment is not shared)."""
    return [*connectors.routes(), *usage.routes(), *assets.routes()]


__all__ = ["ui_routes"]

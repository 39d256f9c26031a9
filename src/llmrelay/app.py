"""``create_app(settings)``: the ASGI application. No globals: two apps can share one process.

Starlette rather than FastAPI: the routes parse their bodies themselves (to give Kibana's
messages), so FastAPI's dependency and validation layer did nothing here but cost 40% of the
``_execute`` request rate (``bench/overhead.py``, 2,471 against 4,196 requests per second).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from llmrelay.api import EXCEPTION_HANDLERS, ROUTES, KibanaRequestGuard
from llmrelay.services import open_services
from llmrelay.settings import Settings
from llmrelay.ui import ui_routes


def create_app(settings: Settings, *, freeze_gc_after_start: bool = False) -> Starlette:
    """``freeze_gc_after_start`` is for a server process that owns the interpreter: the objects
    made at start-up live for ever, and leaving them to the collector cost a 70-80 ms pause of
    every request in flight at each full collection (measured under ``bench/overhead.py``)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            if freeze_gc_after_start:
                gc.collect()
                gc.freeze()
            yield

    return Starlette(
        routes=[*ROUTES, *ui_routes()],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            Middleware(KibanaRequestGuard, max_payload_bytes=settings.server.max_payload_bytes)
        ],
        lifespan=lifespan,
    )

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

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between two collections of the youngest generation (Python's default is 700).

Under load the youngest generation always holds the objects of the requests in flight, so each
collection walks them again: at 700, one collection per ~9 ``_execute`` requests cost 21-31 us
per request; at 10,000 the relay needs 10% less CPU per request (326 -> 291 us, and 2,805 ->
3,100 requests per second, ``bench/overhead.py``'s setup). Garbage without cycles is freed at
once either way; only cyclic garbage waits a little longer."""


def create_app(settings: Settings, *, freeze_gc_after_start: bool = False) -> Starlette:
    """``freeze_gc_after_start`` is for a server process that owns the interpreter: the objects
    made at start-up live for ever, and leaving them to the collector cost a 70-80 ms pause of
    every request in flight at each full collection (measured under ``bench/overhead.py``).
    The same process collects its youngest objects less often (``GC_YOUNG_THRESHOLD``)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            if freeze_gc_after_start:
                gc.collect()
                gc.freeze()
                gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
            yield

    return Starlette(
        routes=ROUTES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            Middleware(KibanaRequestGuard, max_payload_bytes=settings.server.max_payload_bytes)
        ],
        lifespan=lifespan,
    )

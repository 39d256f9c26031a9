"""``create_app(settings)``: the ASGI application. No globals: two apps can share one process.

Starlette rather than FastAPI: the routes parse their bodies themselves (to give Kibana's
messages), so FastAPI's dependency and validation layer did nothing here but cost 40% of the
``_execute`` request rate (``bench/overhead.py``, 2,471 against 4,196 requests per second).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from llmrelay.api import (
    EXCEPTION_HANDLERS,
    RELAYED_ROUTES,
    ROUTES,
    PageSecurityHeaders,
    RelayedRoutes,
    RequestGuard,
)
from llmrelay.services import open_services
from llmrelay.settings import Settings
from llmrelay.ui import login, ui_routes

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between two collections of the youngest generation (Python's default is 700).

Under load the youngest generation always holds the objects of the requests in flight, so each
collection walks them again: at 700, one collection per ~9 ``_execute`` requests cost 21-31 us
per request; at 10,000 the relay needs 10% less CPU per request (326 -> 291 us, and 2,805 ->
3,100 requests per second, ``bench/overhead.py``'s setup). Garbage without cycles is freed at
once either way; only cyclic garbage waits a little longer."""


class LlmrelayApp(Starlette):
    """Starlette, except that the relayed routes (``RelayedRoutes``) are answered before its
    middleware stack: the same guards and handlers, a seventh of the cost of an execution less."""

    relayed: RelayedRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relayed = self.relayed
        if relayed is not None and scope["type"] == "http":
            route = relayed.match(scope)
            if route is not None:
                scope["app"] = self
                await relayed.handle(route, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def print_to_console(message: str) -> None:
    """Straight to the terminal, not through logging: the message may hold the first password,
    which must never land in a log file."""
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def create_app(
    settings: Settings,
    *,
    freeze_gc_after_start: bool = False,
    load_tokenizer_at_start: bool = False,
    announce: Callable[[str], None] = print_to_console,
) -> LlmrelayApp:
    """``freeze_gc_after_start`` is for a server process that owns the interpreter: the objects
    made at start-up live for ever, and leaving them to the collector cost a 70-80 ms pause of
    every request in flight at each full collection (measured under ``bench/overhead.py``).

    ``load_tokenizer_at_start`` (a server too) loads the token-estimate encoding before the
    first request: loading it later held the event loop for up to 130 ms, once.

    At the first start (no users yet) the ``admin`` superuser is created; a generated password
    is handed to ``announce`` once.

    The same process collects its youngest objects less often (``GC_YOUNG_THRESHOLD``)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            admin_password = settings.security.admin_password
            generated = await services.security.ensure_admin(
                admin_password.get_secret_value() if admin_password else None
            )
            if generated is not None:
                announce(
                    "llmrelay: created the superuser admin with the password "
                    f"{generated} (shown only this once; change it with "
                    "llmrelay users passwd admin)"
                )
            app.state.services = services
            if load_tokenizer_at_start:
                await services.load_tokenizer()
            if freeze_gc_after_start:
                gc.collect()
                gc.freeze()
                gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
            yield

    middleware = []
    cors = settings.server.cors
    if cors.enabled:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors.allow_origin),
                allow_credentials=cors.allow_credentials,
                allow_methods=["GET", "POST", "PUT", "DELETE"],
                allow_headers=["authorization", "content-type", "kbn-xsrf", "kbn-version"],
            )
        )
    middleware += [
        Middleware(PageSecurityHeaders),
        Middleware(RequestGuard, max_payload_bytes=settings.server.max_payload_bytes),
    ]
    app = LlmrelayApp(
        routes=[*ROUTES, *login.routes, *ui_routes()],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=middleware,
        lifespan=lifespan,
    )
    if not cors.enabled:  # CORS headers come from Starlette's middleware
        max_payload_bytes = settings.server.max_payload_bytes
        app.relayed = RelayedRoutes(RELAYED_ROUTES, max_payload_bytes=max_payload_bytes)
    return app

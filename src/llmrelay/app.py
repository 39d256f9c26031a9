"""``create_app(settings)``: the ASGI application. No globals: two apps can share one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from llmrelay import __version__
from llmrelay.api import (
    KibanaRequestGuard,
    connectors_router,
    install_error_handlers,
    status_router,
)
from llmrelay.services import open_services
from llmrelay.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="llmrelay",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    install_error_handlers(app)
    app.include_router(status_router)
    app.include_router(connectors_router)
    app.add_middleware(KibanaRequestGuard, max_payload_bytes=settings.server.max_payload_bytes)
    return app

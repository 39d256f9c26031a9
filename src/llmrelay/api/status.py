"""Liveness for load balancers and humans."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from llmrelay import __version__


async def status(request: Request) -> JSONResponse:
    return JSONResponse({"status": "available", "version": __version__})


routes: list[BaseRoute] = [Route("/api/status", status, methods=["GET"])]

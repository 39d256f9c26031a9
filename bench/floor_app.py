"""The stack's floor: what uvicorn, Starlette and aiohttp cost when they only forward.

One POST route that sends the body it gets to the upstream with one pooled aiohttp session and
answers the upstream's status, content type and body, served by uvicorn with ``llmrelay
serve``'s options. No authentication, validation, event log or anything else llmrelay does, so
the gap between this and the direct figure is the part of llmrelay's cost that belongs to its
stack, and the gap between this and llmrelay is llmrelay's own.

Run: ``python bench/floor_app.py --port PORT --upstream URL`` (``overhead.py`` starts it).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def forwarding_app(upstream_url: str) -> Starlette:
    session: aiohttp.ClientSession | None = None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal session
        session = aiohttp.ClientSession(skip_auto_headers=("User-Agent",), trust_env=False)
        yield
        await session.close()

    async def forward(request: Request) -> Response:
        assert session is not None
        headers = {"authorization": request.headers.get("authorization", "")}
        headers["content-type"] = "application/json"
        async with session.post(upstream_url, data=await request.body(), headers=headers) as up:
            body = await up.read()
            return Response(body, up.status, media_type=up.content_type)

    return Starlette(routes=[Route("/forward", forward, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the chat completions URL to forward to")
    args = parser.parse_args()
    uvicorn.run(
        forwarding_app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()

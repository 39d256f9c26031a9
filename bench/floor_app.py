"""The stack's floor: what uvicorn and llmrelay's outbound client cost when they only forward.

One plain ASGI app that sends the body it gets to the upstream through ``OutboundHttp`` (the
client llmrelay's connector types use: kept-alive connections, no proxy) and answers the
upstream's status and body, served by uvicorn with ``llmrelay serve``'s options. No routing,
authentication, validation, event log or anything else llmrelay does, so the gap between this
and the direct figure is the part of llmrelay's cost that belongs to its stack, and the gap
between this and llmrelay is llmrelay's own.

Run: ``python bench/floor_app.py --port PORT --upstream URL`` (``overhead.py`` starts it).
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmrelay.settings import ActionsSettings
from llmrelay.transport import HttpClientPool, NetworkPolicy, OutboundHttp


def forwarding_app(upstream_url: str) -> ASGIApp:
    pool = HttpClientPool()
    http = OutboundHttp(pool, NetworkPolicy.from_settings(ActionsSettings()))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
        headers = {"authorization": authorization, "content-type": "application/json"}
        answer = await http.post(upstream_url, headers=headers, body=body, timeout_s=60)
        content_type = answer.headers.get("content-type", "application/json").encode()
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(answer.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    async def lifespan(receive: Receive, send: Send) -> None:
        message: Message = await receive()
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        if message["type"] == "lifespan.shutdown":
            await pool.aclose()
            await send({"type": "lifespan.shutdown.complete"})

    return app


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

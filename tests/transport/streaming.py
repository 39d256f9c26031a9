"""A streamed execution as a caller sees it: each chunk with the time it arrived."""

from __future__ import annotations

import json
import time

import httpx

HELLO = '{"messages":[{"role":"user","content":"Hello world"}]}'
ANSWER = "Hello! You said: Hello world"

Arrivals = list[tuple[float, bytes]]


async def stream_arrivals(client: httpx.AsyncClient, connector_id: str) -> Arrivals:
    """Run ``stream`` on the connector; every raw chunk, seconds after the request was sent."""
    params = {"subAction": "stream", "subActionParams": {"body": HELLO, "stream": True}}
    started = time.monotonic()
    arrivals: Arrivals = []
    async with client.stream(
        "POST", f"/api/actions/connector/{connector_id}/_execute", json={"params": params}
    ) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            arrivals.append((time.monotonic() - started, chunk))
    return arrivals


def streamed_text(arrivals: Arrivals) -> str:
    """The answer's content, once the stream ended with ``[DONE]``."""
    body = b"".join(chunk for _, chunk in arrivals).decode()
    events = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1])

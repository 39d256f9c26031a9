"""Route sessions: made per (proxy, TLS) route, closed when idle beyond the limit, never in use."""

from __future__ import annotations

import asyncio

from llmrelay.transport import HttpClientPool, Route, TlsSettings

A, B, C = (Route(None, TlsSettings("none", ca_pem=f"{n}")) for n in "abc")
"""Three routes that differ only in TLS settings (``none`` loads no CA, so any text will do)."""


async def test_idle_routes_beyond_the_limit_are_closed_least_recently_used_first() -> None:
    pool = HttpClientPool(max_routes=2)
    first = pool.acquire(A)
    pool.release(A)
    second = pool.acquire(B)
    pool.release(B)
    assert pool.acquire(A) is first  # reused, and now the most recently used
    pool.release(A)
    pool.acquire(C)
    pool.release(C)
    await asyncio.sleep(0.01)  # closing runs as a task
    assert pool.routes == 2
    assert second.closed
    assert not first.closed
    await pool.aclose()
    assert first.closed


async def test_a_route_in_use_is_never_closed() -> None:
    pool = HttpClientPool(max_routes=1)
    busy = pool.acquire(A)
    pool.acquire(B)
    await asyncio.sleep(0.01)
    assert pool.routes == 2  # both busy: over the limit rather than cutting a request
    assert not busy.closed
    pool.release(B)
    pool.release(A)
    pool.acquire(C)
    pool.release(C)
    await asyncio.sleep(0.01)
    assert pool.routes == 1
    assert busy.closed
    await pool.aclose()

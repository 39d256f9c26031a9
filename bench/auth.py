"""What authenticating one request costs: ``Authenticator.authenticate`` in-process.

Prints microseconds per call for an API key and a Basic password, each from the credential
cache (every request after the first within ``security.authc_cache_ttl_s``) and uncached
(the first request, or with the cache turned off: a database read, plus argon2id at its default
cost for a password). Also the whole in-process round trip of ``GET /internal/security/me``
(middleware, route, JSON) for comparison. SQLite in a temporary folder.

Run: ``.venv/bin/python bench/auth.py [--calls N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from llmrelay.app import create_app
from llmrelay.auth import Authenticator
from llmrelay.settings import load_settings

PASSWORD = "bench-admin-password-0123456789"
BASIC = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


async def per_call_us(call: Callable[[], Awaitable[object]], calls: int) -> tuple[float, float]:
    """Median and p99 of single calls, in microseconds."""
    for _ in range(min(50, calls)):
        await call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        await call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


async def measure(data_dir: Path, ttl_s: float, calls: int) -> dict[str, tuple[float, float]]:
    settings = load_settings(
        {},
        {
            "data_dir": str(data_dir),
            "encryption_key": "bench-encryption-key-0123456789-abcdefghij",
            "security.admin_password": PASSWORD,
            "security.authc_cache_ttl_s": ttl_s,
            "log_level": "warning",
        },
    )
    app = create_app(settings)
    results: dict[str, tuple[float, float]] = {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"kbn-xsrf": "1", "authorization": BASIC},
        ) as http,
    ):
        key = (await http.post("/api/security/api_key", json={"name": "bench"})).json()
        api_key = f"ApiKey {key['encoded']}"
        authenticator: Authenticator = app.state.services.authenticator
        results["ApiKey"] = await per_call_us(
            lambda: authenticator.authenticate(api_key, None, "127.0.0.1"), calls
        )
        basic_calls = calls if ttl_s else max(20, calls // 100)  # argon2: ~0.1 s each
        results["Basic"] = await per_call_us(
            lambda: authenticator.authenticate(BASIC, None, "127.0.0.1"), basic_calls
        )
        if ttl_s:
            me = {"authorization": api_key}
            results["GET /internal/security/me, ApiKey"] = await per_call_us(
                lambda: http.get("/internal/security/me", headers=me), calls
            )
            results["GET /api/status (no auth)"] = await per_call_us(
                lambda: http.get("/api/status"), calls
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    print(f"{'':42}{'median µs':>12}{'p99 µs':>12}")
    with tempfile.TemporaryDirectory() as cached_dir, tempfile.TemporaryDirectory() as cold_dir:
        for label, ttl_s, folder in (("cached", 10.0, cached_dir), ("uncached", 0.0, cold_dir)):
            for name, (median, p99) in asyncio.run(
                measure(Path(folder), ttl_s, args.calls)
            ).items():
                print(f"{f'{name}, {label}':42}{median:12.1f}{p99:12.1f}")


if __name__ == "__main__":
    main()

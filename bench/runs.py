"""One benchmark run: the arguments every relay benchmark takes, both servers started, every
path measured one request at a time and then under wrk's load."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from loads import Target, sequential_latencies_ms, wrk_available, wrk_requests_per_second
from processes import (
    UPSTREAM_KEY,
    create_api_key,
    create_connector,
    floor_process,
    llmrelay_process,
    upstream_process,
)

PathsFor = Callable[[str, str, str, dict[str, str]], dict[str, Target]]
"""(upstream URL, llmrelay URL, connector id, an API key's header) -> the paths to measure."""


@dataclass(frozen=True)
class Run:
    latency_ms: dict[str, list[float]]
    requests_per_s: dict[str, float]
    """Empty when wrk is not installed."""
    requests: int
    duration_s: int
    connections: int


def measure(
    description: str | None, paths_for: PathsFor, *, floor_body: bytes | None = None
) -> Run:
    """With ``floor_body``, a ``floor`` path is measured too: that body sent through
    ``floor_app.py``, the stack forwarding it with nothing of llmrelay's on the way."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per path")
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk load per path")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as data_dir,
        upstream_process() as upstream_url,
        llmrelay_process(Path(data_dir)) as relay_url,
        ExitStack() as floor,
    ):
        connector_id = create_connector(relay_url, upstream_url)
        paths = paths_for(upstream_url, relay_url, connector_id, create_api_key(relay_url))
        if floor_body is not None:
            floor_url = floor.enter_context(floor_process(upstream_url))
            auth = {"authorization": f"Bearer {UPSTREAM_KEY}"}
            paths["floor"] = Target(floor_url, floor_body, auth)
        latency = {name: sequential_latencies_ms(t, args.requests) for name, t in paths.items()}
        rate: dict[str, float] = {}
        if wrk_available():
            rate = {
                name: wrk_requests_per_second(t, args.connections, args.duration)
                for name, t in paths.items()
            }
    return Run(latency, rate, args.requests, args.duration, args.connections)

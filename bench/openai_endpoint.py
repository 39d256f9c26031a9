"""The OpenAI-compatible endpoint beside `_execute` and the direct upstream, plain and streamed.

Sends the same chat completion six ways: straight to the test upstream, through `_execute`
(`run`), through `POST /v1/chat/completions` (which runs `run` too) with the connector named by
id and by name, and streamed straight and through `/v1/chat/completions`. Prints, per path,
p50/p99/mean latency one request at a time (a streamed request until its last byte) and
requests per second at 64 connections (wrk), then the difference to the direct path of the
same kind. The upstream, llmrelay (one process, SQLite) and the load generator share this
machine, so compare figures within one run only.

Run: ``.venv/bin/python bench/openai_endpoint.py`` (throughput needs ``wrk``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loads import (
    Target,
    percentile,
    sequential_latencies_ms,
    wrk_available,
    wrk_requests_per_second,
)
from overhead import CHAT_BODY, targets
from processes import (
    UPSTREAM_KEY,
    create_api_key,
    create_connector,
    llmrelay_process,
    upstream_process,
)

BASELINE = {
    "direct": "direct",
    "_execute": "direct",
    "/v1 (openai)": "direct",
    "/v1 by name": "direct",
    "direct, streamed": "direct, streamed",
    "/v1 streamed": "direct, streamed",
}


def openai_targets(
    upstream_url: str, relay_url: str, connector_id: str, auth: dict[str, str]
) -> dict[str, Target]:
    """``auth`` is an llmrelay API key's ``ApiKey`` header; the /v1 paths send it as a Bearer
    token, as OpenAI SDKs do."""
    kibana = targets(upstream_url, relay_url, connector_id, auth)
    chat = json.loads(CHAT_BODY)
    via_connector = {**chat, "model": connector_id}
    relay = {"authorization": "Bearer " + auth["authorization"].removeprefix("ApiKey ")}
    direct = {"authorization": f"Bearer {UPSTREAM_KEY}"}
    completions = f"{relay_url}/v1/chat/completions"
    return {
        "direct": kibana["direct"],
        "_execute": kibana["llmrelay"],
        "/v1 (openai)": Target(completions, json.dumps(via_connector).encode(), relay),
        "/v1 by name": Target(completions, json.dumps({**chat, "model": "bench"}).encode(), relay),
        "direct, streamed": Target(
            kibana["direct"].url, json.dumps({**chat, "stream": True}).encode(), direct
        ),
        "/v1 streamed": Target(
            completions, json.dumps({**via_connector, "stream": True}).encode(), relay
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per path")
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk load per path")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as data_dir,
        upstream_process() as upstream_url,
        llmrelay_process(Path(data_dir)) as relay_url,
    ):
        connector_id = create_connector(relay_url, upstream_url)
        paths = openai_targets(upstream_url, relay_url, connector_id, create_api_key(relay_url))
        latency = {name: sequential_latencies_ms(t, args.requests) for name, t in paths.items()}
        rate: dict[str, float] = {}
        if wrk_available():
            rate = {
                name: wrk_requests_per_second(t, args.connections, args.duration)
                for name, t in paths.items()
            }

    print(
        f"{'path':18}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'+p50 ms':>9}"
        f"{'req/s':>9}{'x direct':>10}"
    )
    for name, samples in latency.items():
        base = BASELINE[name]
        p50 = percentile(samples, 0.50)
        added = p50 - percentile(latency[base], 0.50)
        line = (
            f"{name:18}{p50:9.3f}{percentile(samples, 0.99):9.3f}"
            f"{statistics.fmean(samples):9.3f}{added:+9.3f}"
        )
        if rate:
            line += f"{rate[name]:9.0f}{rate[name] / rate[base]:10.2f}"
        print(line)
    if not rate:
        print("throughput skipped: wrk is not installed (apt-get install wrk)")
    print(
        f"({args.requests} sequential requests per path; {args.duration} s of wrk per path at "
        f"{args.connections} connections; +p50 and x direct against the direct path of the "
        "same kind)"
    )


if __name__ == "__main__":
    main()

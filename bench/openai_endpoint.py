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

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loads import (
    Target,
    percentile,
)
from overhead import CHAT_BODY, targets
from processes import (
    UPSTREAM_KEY,
)
from runs import measure

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
    run = measure(__doc__, openai_targets)
    latency, rate = run.latency_ms, run.requests_per_s

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
        f"({run.requests} sequential requests per path; {run.duration_s} s of wrk per path at "
        f"{run.connections} connections; +p50 and x direct against the direct path of the "
        "same kind)"
    )


if __name__ == "__main__":
    main()

"""What llmrelay adds to a `run`: the same request straight to the upstream and through `_execute`.

Prints, for each path, requests per second at 64 concurrent connections (wrk) and p50/p99
latency one request at a time, then the ratios. Relayed requests authenticate with an API key,
as real clients must. The upstream, llmrelay (one process, SQLite)
and the load generator share this machine, so compare figures within one run only.

Run: ``make bench`` (needs ``wrk``: ``apt-get install wrk``).
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
from processes import (
    UPSTREAM_KEY,
)
from runs import measure

CHAT_BODY = '{"model":"gpt-4.1","messages":[{"role":"user","content":"Hello world"}]}'


def targets(
    upstream_url: str, relay_url: str, connector_id: str, auth: dict[str, str]
) -> dict[str, Target]:
    execute = {"params": {"subAction": "run", "subActionParams": {"body": CHAT_BODY}}}
    return {
        "direct": Target(
            f"{upstream_url}/v1/chat/completions",
            CHAT_BODY.encode(),
            {"authorization": f"Bearer {UPSTREAM_KEY}"},
        ),
        "llmrelay": Target(
            f"{relay_url}/api/actions/connector/{connector_id}/_execute",
            json.dumps(execute).encode(),
            {"kbn-xsrf": "bench", **auth},
        ),
    }


def main() -> None:
    run = measure(__doc__, targets)
    latency, rate = run.latency_ms, run.requests_per_s

    def row(label: str, direct: float, relay: float, difference: str, digits: int = 3) -> None:
        print(f"{label:30}{direct:12.{digits}f}{relay:12.{digits}f}{difference:>16}")

    print(f"{'':30}{'direct':>12}{'llmrelay':>12}{'difference':>16}")
    for name, fraction in (("p50", 0.50), ("p99", 0.99)):
        direct = percentile(latency["direct"], fraction)
        relay = percentile(latency["llmrelay"], fraction)
        row(f"{name} latency, sequential (ms)", direct, relay, f"{relay - direct:+.3f} ms")
    mean_direct = statistics.fmean(latency["direct"])
    mean_relay = statistics.fmean(latency["llmrelay"])
    row("mean latency (ms)", mean_direct, mean_relay, f"{mean_relay - mean_direct:+.3f} ms")
    if rate:
        ratio = rate["llmrelay"] / rate["direct"]
        label = f"req/s at {run.connections} connections"
        row(label, rate["direct"], rate["llmrelay"], f"{ratio:.2f} x", digits=0)
    else:
        print("throughput skipped: wrk is not installed (apt-get install wrk)")
    print(f"({run.requests} sequential requests per path; {run.duration_s} s of wrk per path)")


if __name__ == "__main__":
    main()

"""What llmrelay adds to a `run`: the same request straight to the upstream and through `_execute`.

Prints, for each path, requests per second at 64 concurrent connections (wrk) and p50/p99
latency one request at a time, then the ratios. A third path, the floor, sends the same body
through ``floor_app.py``: uvicorn and llmrelay's outbound client forwarding it with nothing
else, the most any relay built on this stack could reach here. Relayed requests authenticate
with an API key, as real clients must. The upstream, llmrelay (one process, SQLite) and the
load generator share this machine, so compare figures within one run only.

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
    run = measure(__doc__, targets, floor_body=CHAT_BODY.encode())
    latency, rate = run.latency_ms, run.requests_per_s
    columns = ("direct", "floor", "llmrelay")

    def row(label: str, values: list[float], relay: str, floor: str, digits: int = 3) -> None:
        figures = "".join(f"{value:10.{digits}f}" for value in values)
        print(f"{label:30}{figures}{relay:>16}{floor:>14}")

    print(
        f"{'':30}" + "".join(f"{name:>10}" for name in columns) + f"{'llmrelay':>16}{'floor':>14}"
    )
    for name, fraction in (("p50", 0.50), ("p99", 0.99)):
        values = [percentile(latency[column], fraction) for column in columns]
        direct, floor, relay = values
        row(
            f"{name} latency, sequential (ms)",
            values,
            f"{relay - direct:+.3f} ms",
            f"{floor - direct:+.3f} ms",
        )
    means = [statistics.fmean(latency[column]) for column in columns]
    row(
        "mean latency (ms)",
        means,
        f"{means[2] - means[0]:+.3f} ms",
        f"{means[1] - means[0]:+.3f} ms",
    )
    if rate:
        values = [rate[column] for column in columns]
        label = f"req/s at {run.connections} connections"
        row(label, values, f"{values[2] / values[0]:.2f} x", f"{values[1] / values[0]:.2f} x", 0)
    else:
        print("throughput skipped: wrk is not installed (apt-get install wrk)")
    print(
        "(the last two columns: llmrelay and the floor against direct; the floor is the stack "
        "alone, forwarding with nothing of llmrelay's on the way)"
    )
    print(f"({run.requests} sequential requests per path; {run.duration_s} s of wrk per path)")


if __name__ == "__main__":
    main()

"""What the event log costs: `_execute` throughput with `event_log.enabled` on and off.

Starts the test upstream and two `llmrelay serve` processes (SQLite each), one recording events
and one with ``LLMRELAY_EVENT_LOG_ENABLED=false``, then measures them in turns (on, off, on,
off, ...) at 64 connections with wrk, so that load from elsewhere on the machine falls on both
alike. Prints each round and the median of the on/off ratios (issue 5 asks for at least 0.90).

Run: ``.venv/bin/python bench/eventlog.py [--rounds N] [--duration S]`` (needs ``wrk``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loads import wrk_available, wrk_requests_per_second
from overhead import targets
from processes import create_api_key, create_connector, llmrelay_process, upstream_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds of wrk per measurement")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if not wrk_available():
        sys.exit("needs wrk (apt-get install wrk)")

    with (
        tempfile.TemporaryDirectory() as on_dir,
        tempfile.TemporaryDirectory() as off_dir,
        upstream_process() as upstream_url,
        llmrelay_process(Path(on_dir)) as on_url,
        llmrelay_process(Path(off_dir), {"LLMRELAY_EVENT_LOG_ENABLED": "false"}) as off_url,
    ):
        paths = {
            name: targets(
                upstream_url, url, create_connector(url, upstream_url), create_api_key(url)
            )
            for name, url in (("on", on_url), ("off", off_url))
        }
        for name in paths:  # warm both up (connections, caches) before measuring
            wrk_requests_per_second(paths[name]["llmrelay"], args.connections, 2)
        ratios: list[float] = []
        header = ("direct", "log on", "log off", "on/off", "on/direct")
        print(f"{'round':8}" + "".join(f"{name:>11}" for name in header))
        for number in range(1, args.rounds + 1):
            direct = wrk_requests_per_second(paths["on"]["direct"], args.connections, args.duration)
            on = wrk_requests_per_second(paths["on"]["llmrelay"], args.connections, args.duration)
            off = wrk_requests_per_second(paths["off"]["llmrelay"], args.connections, args.duration)
            ratios.append(on / off)
            figures = f"{direct:11.0f}{on:11.0f}{off:11.0f}{on / off:11.2f}{on / direct:11.2f}"
            print(f"{number:<8}{figures}")
    median = statistics.median(ratios)
    print(f"median on/off: {median:.2f} (req/s at {args.connections} connections)")


if __name__ == "__main__":
    main()

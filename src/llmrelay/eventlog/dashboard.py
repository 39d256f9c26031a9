"""The token usage dashboard's figures: one query in, every figure the page and the API show out.

Exactness, as the docs state it: executions, failures and token sums are exact (hourly rollups
plus raw rows for partial hours); latency percentiles come from logarithmic histograms and are
within ``LATENCY_RELATIVE_ERROR`` (4.43 %) of the exact nearest-rank percentile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from llmrelay.errors import BadRequestError
from llmrelay.eventlog.events import ExecutionEvent
from llmrelay.storage import (
    LATENCY_RELATIVE_ERROR,
    Counts,
    Summary,
    UsageStore,
    bin_midpoint_ns,
)

PERCENTILE_RELATIVE_ERROR = LATENCY_RELATIVE_ERROR
"""How far a latency percentile may be from the exact nearest-rank one (4.43 %)."""
RANGES = {"15m": 15 * 60, "24h": 24 * 3600, "7d": 7 * 86400, "30d": 30 * 86400}
"""The ranges the page offers, ending now; a custom range gives ``start`` and ``end``."""
DEFAULT_RANGE = "24h"
INTERVALS = {
    "1m": 60,
    "5m": 300,
    "10m": 600,
    "30m": 1800,
    "1h": 3600,
    "3h": 3 * 3600,
    "6h": 6 * 3600,
    "12h": 12 * 3600,
    "1d": 86400,
    "7d": 7 * 86400,
}
MAX_BUCKETS = 60
"""The automatic interval is the finest one giving at most this many buckets."""
MAX_EXPLICIT_BUCKETS = 200
"""A chosen interval may give up to this many buckets (Kibana's ``histogram:maxBars`` is 100):
more bars are unreadable, and hourly buckets over a month took 300 ms on 1M events."""
FINE_RANGE_LIMIT_S = 6 * 3600
"""Intervals under an hour are computed from raw events, so they are offered up to 6 hours."""
RECENT_LIMIT = 20
KNOWN_PARAMETERS = frozenset({"range", "start", "end", "interval"})


def parse_time(name: str, value: str) -> datetime:
    # an unescaped "+" in a query string arrives as a space: "2026-01-01T00:00:00 01:00"
    text = value.strip().replace(" ", "+").replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestError(f"[{name}]: [{value}] is not an ISO 8601 date and time") from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if parsed < EARLIEST:
        raise BadRequestError(f"[{name}]: must be 1970-01-01 or later; got [{value}]")
    return parsed


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""No execution is older than the Unix epoch. Buckets are aligned before ``start``: a ``start``
in year 1 put that before the calendar's first year (``ValueError``, a bare 500)."""


def _label(seconds: int) -> str:
    return next(name for name, s in INTERVALS.items() if s == seconds)


@dataclass(frozen=True)
class UsageQuery:
    """A time range [start, end) and the bucket width of the charts."""

    start: datetime
    end: datetime
    interval_s: int
    range_name: str | None = None
    """``15m``, ``24h``, ``7d``, ``30d``, or None for a custom range."""

    @property
    def interval(self) -> str:
        return _label(self.interval_s)

    @classmethod
    def from_params(cls, params: Mapping[str, str], now: datetime | None = None) -> UsageQuery:
        """Read ``range`` or ``start``/``end``, and ``interval`` (default ``auto``); refuse what
        cannot be answered with a message naming the parameter."""
        unknown = sorted(set(params) - KNOWN_PARAMETERS)
        if unknown:
            raise BadRequestError(f"[{unknown[0]}]: definition for this key is missing")
        now = now or datetime.now(UTC)
        range_name = params.get("range") or None
        start_text, end_text = params.get("start") or None, params.get("end") or None
        if range_name is not None and range_name != "custom":
            if range_name not in RANGES:
                raise BadRequestError(
                    f"[range]: must be one of {', '.join(RANGES)} or custom; got [{range_name}]"
                )
            if start_text or end_text:
                raise BadRequestError("[range]: give either a range or start and end, not both")
            start, end = now - timedelta(seconds=RANGES[range_name]), now
        elif start_text or end_text:
            range_name = None
            end = parse_time("end", end_text) if end_text else now
            if start_text is None:
                raise BadRequestError("[start]: a custom range needs a start")
            start = parse_time("start", start_text)
        else:
            range_name = DEFAULT_RANGE
            start, end = now - timedelta(seconds=RANGES[range_name]), now
        if end <= start:
            raise BadRequestError(
                f"[end]: {end.isoformat()} is not after [start] {start.isoformat()}"
            )
        span_s = (end - start).total_seconds()
        return cls(start, end, _interval(params.get("interval") or "auto", span_s), range_name)


def _interval(name: str, span_s: float) -> int:
    if name == "auto":
        for seconds in INTERVALS.values():
            if span_s > FINE_RANGE_LIMIT_S and seconds < 3600:
                continue
            if span_s / seconds <= MAX_BUCKETS:
                return seconds
        return max(INTERVALS.values())
    if name not in INTERVALS:
        raise BadRequestError(
            f"[interval]: must be auto or one of {', '.join(INTERVALS)}; got [{name}]"
        )
    seconds = INTERVALS[name]
    if seconds < 3600 and span_s > FINE_RANGE_LIMIT_S:
        raise BadRequestError(
            f"[interval]: {name} is only offered for ranges up to 6 hours; use 1h or more"
        )
    if span_s / seconds > MAX_EXPLICIT_BUCKETS:
        raise BadRequestError(
            f"[interval]: {name} gives more than {MAX_EXPLICIT_BUCKETS} buckets for this range; "
            "choose a longer one"
        )
    return seconds


@dataclass(frozen=True)
class Latency:
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class Figures:
    """Counts over some slice of the range; ``estimated`` executions had their tokens counted by
    llmrelay, ``unknown_usage`` ones have no token counts at all (failures, mostly, and counts
    the provider reported that are not counts). ``unfinished`` executions started and have not
    ended: running now, or cut off when the process was killed (outcome unknown)."""

    executions: int
    failures: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    estimated: int
    unknown_usage: int
    unfinished: int = 0

    @classmethod
    def of(cls, counts: Counts) -> Figures:
        return cls(**vars(counts))

    def to_wire(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(frozen=True)
class Bucket:
    start: datetime
    figures: Figures
    latency: Latency


@dataclass(frozen=True)
class Share:
    """Figures of one model or one connector over the whole range."""

    key: str
    name: str
    figures: Figures


@dataclass(frozen=True)
class UsageDashboard:
    query: UsageQuery
    connector_id: str | None
    connector_name: str | None
    totals: Figures
    latency: Latency
    buckets: list[Bucket]
    models: list[Share]
    connectors: list[Share]
    recent: list[ExecutionEvent] = field(default_factory=list)

    def to_wire(self) -> dict[str, object]:
        return {
            "connector_id": self.connector_id,
            "connector_name": self.connector_name,
            "start": _iso(self.query.start),
            "end": _iso(self.query.end),
            "range": self.query.range_name,
            "interval": self.query.interval,
            "totals": self.totals.to_wire(),
            "latency": vars(self.latency),
            "buckets": [
                {"start": _iso(b.start), **b.figures.to_wire(), **vars(b.latency)}
                for b in self.buckets
            ],
            "models": [{"model": s.key or None, **s.figures.to_wire()} for s in self.models],
            "connectors": [
                {"connector_id": s.key, "name": s.name, **s.figures.to_wire()}
                for s in self.connectors
            ],
            "recent": [event.to_wire() for event in self.recent],
            "accuracy": {
                "tokens": "exact",
                "executions": "exact",
                "latency_relative_error": round(LATENCY_RELATIVE_ERROR, 4),
            },
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def percentile_ns(histogram: Mapping[int, int], quantile: float) -> float | None:
    """Nearest-rank percentile from a bin → count histogram: the midpoint of the bin holding the
    ``ceil(q·n)``-th smallest duration, so within ``LATENCY_RELATIVE_ERROR`` of the exact one."""
    n = sum(histogram.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(quantile * n))
    seen = 0
    for latency_bin in sorted(histogram):
        seen += histogram[latency_bin]
        if seen >= rank:
            return bin_midpoint_ns(latency_bin)
    raise AssertionError("unreachable: rank is at most n")


def _latency(histogram: Mapping[int, int]) -> Latency:
    p50, p95 = percentile_ns(histogram, 0.5), percentile_ns(histogram, 0.95)
    return Latency(
        None if p50 is None else round(p50 / 1e6, 3), None if p95 is None else round(p95 / 1e6, 3)
    )


def _total(counts: Iterable[Counts]) -> Counts:
    total = Counts()
    for c in counts:
        total.add(c)
    return total


def build_dashboard(
    query: UsageQuery,
    connector_id: str | None,
    summary: Summary,
    connector_names: Mapping[str, str],
    recent: list[ExecutionEvent],
) -> UsageDashboard:
    bucket_starts = range(
        int(query.start.timestamp()) // query.interval_s * query.interval_s,
        int(query.end.timestamp()),
        query.interval_s,
    )
    per_bucket: dict[int, Counts] = {b: Counts() for b in bucket_starts}
    per_model: dict[str, Counts] = {}
    per_connector: dict[str, Counts] = {}
    for (connector, bucket, model), counts in summary.counts.items():
        per_bucket.setdefault(bucket, Counts()).add(counts)
        per_model.setdefault(model, Counts()).add(counts)
        per_connector.setdefault(connector, Counts()).add(counts)
    histograms: dict[int, dict[int, int]] = {b: {} for b in per_bucket}
    overall: dict[int, int] = {}
    for (_, bucket, latency_bin), n in summary.latency.items():
        histogram = histograms.setdefault(bucket, {})
        histogram[latency_bin] = histogram.get(latency_bin, 0) + n
        overall[latency_bin] = overall.get(latency_bin, 0) + n

    def shares(counts: dict[str, Counts], names: Mapping[str, str]) -> list[Share]:
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1].total_tokens, kv[0]))
        return [Share(k, names.get(k, k), Figures.of(c)) for k, c in ordered]

    return UsageDashboard(
        query=query,
        connector_id=connector_id,
        connector_name=None if connector_id is None else connector_names.get(connector_id),
        totals=Figures.of(_total(per_bucket.values())),
        latency=_latency(overall),
        buckets=[
            Bucket(
                datetime.fromtimestamp(b, UTC), Figures.of(per_bucket[b]), _latency(histograms[b])
            )
            for b in sorted(per_bucket)
        ],
        models=shares(per_model, {}),
        connectors=shares(per_connector, connector_names),
        recent=recent,
    )


class UsageQueries:
    def __init__(self, store: UsageStore) -> None:
        self._store = store

    async def dashboard(
        self, query: UsageQuery, connector_id: str | None, connector_names: Mapping[str, str]
    ) -> UsageDashboard:
        summary = await self._store.summary(connector_id, query.start, query.end, query.interval_s)
        rows = await self._store.newest(connector_id, query.start, query.end, RECENT_LIMIT)
        recent = [ExecutionEvent(**row) for row in rows]
        return build_dashboard(query, connector_id, summary, connector_names, recent)

"""The event log: one event per execution, written in the background, read by the CLI and API."""

from __future__ import annotations

from llmrelay.eventlog.dashboard import UsageDashboard, UsageQueries, UsageQuery
from llmrelay.eventlog.events import ExecutionEvent, Outcome, Source
from llmrelay.eventlog.queries import EventLogQueries, FindQuery, FindResult
from llmrelay.eventlog.writer import EventLogWriter

__all__ = [
    "EventLogQueries",
    "EventLogWriter",
    "ExecutionEvent",
    "FindQuery",
    "FindResult",
    "Outcome",
    "Source",
    "UsageDashboard",
    "UsageQueries",
    "UsageQuery",
]

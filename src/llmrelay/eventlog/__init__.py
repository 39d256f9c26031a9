"""The event log: one event per execution, written in the background, read by the CLI and API."""

from __future__ import annotations

from llmrelay.eventlog.dashboard import UsageDashboard, UsageQueries, UsageQuery
from llmrelay.eventlog.events import START_ACTION, ExecutionEvent, Outcome, Source
from llmrelay.eventlog.export import FORMATS as EXPORT_FORMATS
from llmrelay.eventlog.export import ExportQuery, export_lines
from llmrelay.eventlog.queries import EventLogQueries, FindQuery, FindResult
from llmrelay.eventlog.retention import EventLogPruner
from llmrelay.eventlog.writer import EventLogWriter

__all__ = [
    "EXPORT_FORMATS",
    "START_ACTION",
    "EventLogPruner",
    "EventLogQueries",
    "EventLogWriter",
    "ExecutionEvent",
    "ExportQuery",
    "FindQuery",
    "FindResult",
    "Outcome",
    "Source",
    "UsageDashboard",
    "UsageQueries",
    "UsageQuery",
    "export_lines",
]

"""Exporting a connector's events as NDJSON or CSV, streamed: memory stays bounded."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from llmrelay.errors import BadRequestError
from llmrelay.eventlog.events import ExecutionEvent
from llmrelay.eventlog.queries import OUTCOMES

FORMATS = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
"""Export formats and their media types."""
CSV_COLUMNS = tuple(f.name for f in dataclasses.fields(ExecutionEvent))
"""The CSV header: the event's columns (``docs/eventlog.md``, Fields), in table order."""


@dataclass(frozen=True)
class ExportQuery:
    format: str = "ndjson"
    start: datetime | None = None
    end: datetime | None = None
    outcome: str | None = None

    def checked(self) -> ExportQuery:
        if self.format not in FORMATS:
            raise BadRequestError(
                f"[format]: must be one of {', '.join(FORMATS)}; got [{self.format}]"
            )
        if self.start and self.end and self.end < self.start:
            raise BadRequestError(
                f"[end]: {self.end.isoformat()} is before [start] {self.start.isoformat()}"
            )
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise BadRequestError(
                f"[outcome]: must be one of {', '.join(OUTCOMES)}; got [{self.outcome}]"
            )
        return self


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return value


async def export_lines(events: AsyncIterator[ExecutionEvent], format: str) -> AsyncIterator[str]:
    """One NDJSON line (``to_wire()``) per event, or a CSV header and one row per event."""
    if format == "ndjson":
        async for event in events:
            yield json.dumps(event.to_wire(), ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    async for event in events:
        writer.writerow([_cell(getattr(event, name)) for name in CSV_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()

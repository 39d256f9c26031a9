"""``llmrelay executions``: the most recent executions, from the event log."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from llmrelay.actions_client import ActionsClient
from llmrelay.cli.context import CLI_PRINCIPAL, CliState, print_json, with_actions
from llmrelay.eventlog import EXPORT_FORMATS, ExecutionEvent, ExportQuery


def _tokens(event: ExecutionEvent) -> str:
    if event.total_tokens is None:
        return "?"
    return f"{event.total_tokens}{'~' if event.usage_estimated else ''}"


GENERIC_PREFIX = "an error occurred while running the action: "


def _short_error(message: str | None) -> str:
    """The part that says what went wrong, not Kibana's generic preamble."""
    return (message or "").removeprefix(GENERIC_PREFIX)[:80]


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def _export(state: CliState, connector_id: str, query: ExportQuery) -> None:
    async def write(actions: ActionsClient) -> None:
        async for text in await actions.export_events(connector_id, query, principal=CLI_PRINCIPAL):
            click.echo(text, nl=False)

    with_actions(state, write)


@click.command()
@click.option("--connector", "connector_id", help="Only this connector's executions.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON events instead of a table.")
@click.option(
    "--export",
    "export_format",
    type=click.Choice(sorted(EXPORT_FORMATS)),
    help="Write every event of --connector, oldest first, as NDJSON or CSV (no --limit).",
)
@click.option("--start", type=click.DateTime(TIME_FORMATS), help="With --export: from (UTC).")
@click.option("--end", type=click.DateTime(TIME_FORMATS), help="With --export: until (UTC).")
@click.option(
    "--outcome",
    type=click.Choice(["success", "failure", "unknown"]),
    help="With --export: only these (unknown: started, not finished).",
)
@click.pass_obj
def executions(
    state: CliState,
    connector_id: str | None,
    limit: int,
    as_json: bool,
    export_format: str | None,
    start: datetime | None,
    end: datetime | None,
    outcome: str | None,
) -> None:
    """Show the most recent executions, newest first (tokens: ? unknown, ~ estimated)."""
    if export_format is None and (start or end or outcome):
        raise click.UsageError("--start, --end and --outcome need --export")
    if export_format is not None:
        if connector_id is None:
            raise click.UsageError("--export needs --connector")
        _export(state, connector_id, ExportQuery(export_format, _utc(start), _utc(end), outcome))
        return
    found = with_actions(
        state, lambda a: a.recent_executions(connector_id, limit, principal=CLI_PRINCIPAL)
    )
    if as_json:
        print_json([event.to_wire() for event in found])
        return
    rows = [("TIME", "CONNECTOR", "SUB-ACTION", "OUTCOME", "MODEL", "TOKENS", "MS", "ERROR")]
    for e in found:
        rows.append(
            (
                e.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
                e.connector_name,
                e.sub_action or "",
                "unfinished" if e.outcome == "unknown" else e.outcome,
                e.model or "",
                _tokens(e),
                f"{e.duration_ns / 1e6:.0f}",
                _short_error(e.error_message),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())

"""``llmrelay executions``: the most recent executions, from the event log."""

from __future__ import annotations

import click

from llmrelay.cli.context import CLI_PRINCIPAL, CliState, print_json, with_actions
from llmrelay.eventlog import ExecutionEvent


def _tokens(event: ExecutionEvent) -> str:
    if event.total_tokens is None:
        return "?"
    return f"{event.total_tokens}{'~' if event.usage_estimated else ''}"


GENERIC_PREFIX = "an error occurred while running the action: "


def _short_error(message: str | None) -> str:
    """The part that says what went wrong, not Kibana's generic preamble."""
    return (message or "").removeprefix(GENERIC_PREFIX)[:80]


@click.command()
@click.option("--connector", "connector_id", help="Only this connector's executions.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON events instead of a table.")
@click.pass_obj
def executions(state: CliState, connector_id: str | None, limit: int, as_json: bool) -> None:
    """Show the most recent executions, newest first (tokens: ? unknown, ~ estimated)."""
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
                e.outcome,
                e.model or "",
                _tokens(e),
                f"{e.duration_ns / 1e6:.0f}",
                _short_error(e.error_message),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())

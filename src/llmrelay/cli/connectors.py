"""``llmrelay connectors ...`` and ``llmrelay run``: the connector workflow without the UI."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from llmrelay.actions_client import ActionsClient
from llmrelay.api.wire import connector_to_wire
from llmrelay.cli.context import CliState
from llmrelay.errors import LlmrelayError, UserError
from llmrelay.execution import ActionResult
from llmrelay.services import open_services
from llmrelay.transport import iter_sse_events

T = TypeVar("T")


def _with_actions(state: CliState, use: Callable[[ActionsClient], Awaitable[T]]) -> T:
    settings = state.settings()
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )

    async def main() -> T:
        async with open_services(settings) as services:
            return await use(services.actions)

    try:
        return asyncio.run(main())
    except UserError as exc:
        raise click.ClickException(exc.message) from None
    except LlmrelayError as exc:
        raise click.ClickException(str(exc)) from None


def _json_argument(value: str | None, what: str) -> dict[str, Any]:
    """Inline JSON, ``@file``, or ``-`` for standard input."""
    if value is None:
        return {}
    if value == "-":
        value = sys.stdin.read()
    elif value.startswith("@"):
        value = Path(value[1:]).read_text(encoding="utf-8")
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"{what} must be a JSON object")
    return parsed


def _print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group()
def connectors() -> None:
    """Create, list, inspect and delete connectors."""


@connectors.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def list_connectors(state: CliState, as_json: bool) -> None:
    """List connectors, sorted by name."""
    found = _with_actions(state, lambda actions: actions.get_all())
    if as_json:
        _print_json([connector_to_wire(c) for c in found])
        return
    rows = [("ID", "NAME", "TYPE", "PROVIDER")]
    for c in found:
        provider = str((c.config or {}).get("apiProvider", ""))
        rows.append((c.id, c.name, c.connector_type_id, provider))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


@connectors.command("get")
@click.argument("connector_id")
@click.pass_obj
def get_connector(state: CliState, connector_id: str) -> None:
    """Show one connector (never its secrets)."""
    _print_json(connector_to_wire(_with_actions(state, lambda a: a.get(connector_id))))


@connectors.command("create")
@click.option("--name", required=True, help="Connector name.")
@click.option("--type", "type_id", default=".gen-ai", show_default=True, help="Connector type id.")
@click.option("--config", "config", help="Config as JSON, @file or - (stdin).")
@click.option("--secrets", "secrets", help="Secrets as JSON, @file or - (stdin).")
@click.option("--id", "connector_id", help="Connector id (default: a new UUID).")
@click.pass_obj
def create_connector(
    state: CliState,
    name: str,
    type_id: str,
    config: str | None,
    secrets: str | None,
    connector_id: str | None,
) -> None:
    """Create a connector; prints it as JSON."""
    config_data = _json_argument(config, "--config")
    secrets_data = _json_argument(secrets, "--secrets")
    created = _with_actions(
        state,
        lambda a: a.create(
            name=name,
            connector_type_id=type_id,
            config=config_data,
            secrets=secrets_data,
            connector_id=connector_id,
        ),
    )
    _print_json(connector_to_wire(created))


@connectors.command("delete")
@click.argument("connector_id")
@click.pass_obj
def delete_connector(state: CliState, connector_id: str) -> None:
    """Delete a connector."""
    _with_actions(state, lambda a: a.delete(connector_id))
    click.echo(f"deleted {connector_id}")


def _stream_text(data: str) -> str:
    """The text a chat-completion chunk adds (``choices[0].delta.content``)."""
    try:
        chunk = json.loads(data)
    except ValueError:
        return ""
    choices = chunk.get("choices") if isinstance(chunk, Mapping) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        delta = choices[0].get("delta")
        if isinstance(delta, Mapping) and isinstance(delta.get("content"), str):
            return str(delta["content"])
    return ""


async def _print_stream(result: ActionResult) -> None:
    assert result.stream is not None
    try:
        async for event in iter_sse_events(result.stream.chunks):
            if event.event == "error":
                raise click.ClickException(event.data)
            if event.data.strip() != "[DONE]":
                click.echo(_stream_text(event.data), nl=False)
                sys.stdout.flush()
    finally:
        await result.stream.aclose()
    click.echo()


def _asking_for_stream(body: str) -> str:
    """Kibana leaves ``stream`` alone for non-official OpenAI URLs, so the body must ask."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if isinstance(parsed, dict) and "stream" not in parsed:
        parsed["stream"] = True
        return json.dumps(parsed)
    return body


@click.command()
@click.argument("connector_id")
@click.option("--body", "body_source", required=True, help="Request body: a file, or - for stdin.")
@click.option(
    "--sub-action", default=None, help="Sub-action (default: run, or stream with --stream)."
)
@click.option("--stream", is_flag=True, help="Stream the answer and print tokens as they arrive.")
@click.pass_obj
def run(
    state: CliState, connector_id: str, body_source: str, sub_action: str | None, stream: bool
) -> None:
    """Run a connector with a chat-completion JSON body and print the result."""
    body = sys.stdin.read() if body_source == "-" else Path(body_source).read_text(encoding="utf-8")
    sub = sub_action or ("stream" if stream else "run")
    params: dict[str, object] = {"subAction": sub, "subActionParams": {"body": body}}
    if stream:
        params["subActionParams"] = {"body": _asking_for_stream(body), "stream": True}

    async def execute(actions: ActionsClient) -> ActionResult:
        result = await actions.execute(connector_id, params)
        if result.stream is not None:
            await _print_stream(result)
        return result

    result = _with_actions(state, execute)
    if result.stream is None:
        _print_json(result.to_wire())
    if result.status == "error":
        sys.exit(1)

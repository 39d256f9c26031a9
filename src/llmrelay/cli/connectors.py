"""``llmrelay connectors list|get|create|update|delete``: manage connectors without the UI."""

from __future__ import annotations

from typing import Any

import click

from llmrelay.actions_client import ActionsClient, Connector
from llmrelay.api.wire import connector_to_wire
from llmrelay.cli.context import CLI_PRINCIPAL, CliState, json_argument, print_json, with_actions

JSON_HELP = "as JSON, @file, or - for standard input"


@click.group()
def connectors() -> None:
    """Create, list, inspect, update and delete connectors."""


@connectors.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def list_connectors(state: CliState, as_json: bool) -> None:
    """List connectors (saved and preconfigured), sorted by name."""
    found = with_actions(state, lambda actions: actions.get_all(principal=CLI_PRINCIPAL))
    if as_json:
        print_json([connector_to_wire(c) for c in found])
        return
    rows = [("ID", "NAME", "TYPE", "PROVIDER", "")]
    for c in found:
        provider = str((c.config or {}).get("apiProvider", ""))
        rows.append(
            (c.id, c.name, c.connector_type_id, provider, "preconfigured" * c.is_preconfigured)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


@connectors.command("get")
@click.argument("connector_id")
@click.pass_obj
def get_connector(state: CliState, connector_id: str) -> None:
    """Show one connector (never its secrets)."""
    print_json(
        connector_to_wire(
            with_actions(state, lambda a: a.get(connector_id, principal=CLI_PRINCIPAL))
        )
    )


def _field(flag: object, body: dict[str, Any], key: str, default: object = None) -> Any:
    """A flag wins over the same field of ``--file``."""
    return flag if flag is not None else body.get(key, default)


@connectors.command("create")
@click.option("--name", help="Connector name.")
@click.option("--type", "type_id", help="Connector type id (default .gen-ai).")
@click.option("--config", "config", help=f"Config {JSON_HELP}.")
@click.option("--secrets", "secrets", help=f"Secrets {JSON_HELP}.")
@click.option("--id", "connector_id", help="Connector id (default: a new UUID).")
@click.option(
    "--file",
    "body",
    help=f"Kibana's create body {{name, connector_type_id, config, secrets}} {JSON_HELP}.",
)
@click.pass_obj
def create_connector(
    state: CliState,
    name: str | None,
    type_id: str | None,
    config: str | None,
    secrets: str | None,
    connector_id: str | None,
    body: str | None,
) -> None:
    """Create a connector from flags or a JSON file; prints it as JSON."""
    base = json_argument(body, "--file") or {}
    name = _field(name, base, "name")
    if not name:
        raise click.UsageError("a name is needed: --name, or name in --file")
    created = with_actions(
        state,
        lambda a: a.create(
            principal=CLI_PRINCIPAL,
            name=name,
            connector_type_id=_field(type_id, base, "connector_type_id", ".gen-ai"),
            config=_field(json_argument(config, "--config"), base, "config", {}),
            secrets=_field(json_argument(secrets, "--secrets"), base, "secrets", {}),
            connector_id=connector_id,
        ),
    )
    print_json(connector_to_wire(created))


@connectors.command("update")
@click.argument("connector_id")
@click.option("--name", help="New name (default: unchanged).")
@click.option("--config", "config", help=f"New config {JSON_HELP} (default: unchanged).")
@click.option(
    "--secrets", "secrets", help=f"Secrets {JSON_HELP}: replaced wholesale, as in Kibana."
)
@click.option("--file", "body", help=f"Kibana's update body {{name, config, secrets}} {JSON_HELP}.")
@click.pass_obj
def update_connector(
    state: CliState,
    connector_id: str,
    name: str | None,
    config: str | None,
    secrets: str | None,
    body: str | None,
) -> None:
    """Update a connector. Secrets are never read back, so pass them again."""
    base = json_argument(body, "--file") or {}
    new_config = json_argument(config, "--config")
    new_secrets = json_argument(secrets, "--secrets")

    async def update(actions: ActionsClient) -> Connector:
        current = await actions.get(connector_id, principal=CLI_PRINCIPAL)
        return await actions.update(
            connector_id,
            principal=CLI_PRINCIPAL,
            name=_field(name, base, "name", current.name),
            config=_field(new_config, base, "config", current.config),
            secrets=_field(new_secrets, base, "secrets", {}),
        )

    print_json(connector_to_wire(with_actions(state, update)))


@connectors.command("delete")
@click.argument("connector_id")
@click.pass_obj
def delete_connector(state: CliState, connector_id: str) -> None:
    """Delete a connector."""
    with_actions(state, lambda a: a.delete(connector_id, principal=CLI_PRINCIPAL))
    click.echo(f"deleted {connector_id}")

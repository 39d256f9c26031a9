"""``llmrelay config check|show``: look at a configuration without starting anything."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import yaml

from llmrelay.cli.context import CliState
from llmrelay.errors import ConfigurationError
from llmrelay.services import build_preconfigured, build_registry
from llmrelay.settings import Settings
from llmrelay.transport import NetworkPolicy

MASK = "********"
_URL_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]*@")


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings with every secret replaced: safe to paste into a bug report."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    for entry in data["actions"]["preconfigured"].values():
        entry["secrets"] = {key: MASK for key in entry["secrets"]}
    if data["encryption_key"] is not None:
        data["encryption_key"] = MASK
    data["encryption_previous_keys"] = [MASK for _ in data["encryption_previous_keys"]]
    if data["database"]["url"]:
        data["database"]["url"] = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", data["database"]["url"])
    actions = data["actions"]
    if actions["proxy_url"]:
        actions["proxy_url"] = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", actions["proxy_url"])
    actions["proxy_headers"] = {name: MASK for name in actions["proxy_headers"]}
    return data


@click.group()
def config() -> None:
    """Check or show the configuration."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.pass_obj
def check(state: CliState, file: Path | None) -> None:
    """Validate FILE (default: --config / $LLMRELAY_CONFIG) without starting anything.

    Preconfigured connectors are validated as at start-up; the database is not touched.
    """
    if file is not None:
        state.config_file = file
    settings = state.settings()
    try:
        registry = build_registry(settings)
        build_preconfigured(settings, registry, NetworkPolicy.from_settings(settings.actions))
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    source = state.config_file or "the environment"
    count = len(settings.actions.preconfigured)
    click.echo(f"{source}: valid ({count} preconfigured connector{'s' * (count != 1)})")


@config.command("show")
@click.pass_obj
def show(state: CliState) -> None:
    """Print the effective configuration as YAML, every secret masked."""
    click.echo(yaml.safe_dump(masked(state.settings()), sort_keys=False), nl=False)

"""What every CLI command shares: settings, the ActionsClient, JSON in and out, progress."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from llmrelay.actions_client import ActionsClient
from llmrelay.auth import Principal
from llmrelay.errors import ConfigurationError, LlmrelayError, UserError
from llmrelay.services import Services, open_services
from llmrelay.settings import Settings, load_settings

T = TypeVar("T")

CLI_PRINCIPAL = Principal.local("local-cli")
"""Who CLI commands act as. They open the database and the encryption key directly, so whoever
can run them on this data directory already holds everything: they act as a superuser, and the
event log and audit log name them ``local-cli``."""


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


@dataclass
class CliState:
    config_file: Path | None
    environ: Mapping[str, str]

    def settings(self, overrides: Mapping[str, object] | None = None) -> Settings:
        """Settings for this command; a config problem ends it with one line, no traceback."""
        try:
            return load_settings(self.environ, overrides, self.config_file, warn=warn)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None


def with_actions(state: CliState, use: Callable[[ActionsClient], Awaitable[T]]) -> T:
    """Run ``use`` against the local database; llmrelay's errors become one-line messages."""
    return with_services(state, lambda services: use(services.actions))


def with_services(state: CliState, use: Callable[[Services], Awaitable[T]]) -> T:
    """Like ``with_actions``, with every service (users, the audit log)."""
    settings = state.settings()
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )

    async def main() -> T:
        async with open_services(settings) as services:
            return await use(services)

    try:
        return asyncio.run(main())
    except UserError as exc:
        raise click.ClickException(exc.message) from None
    except LlmrelayError as exc:
        raise click.ClickException(str(exc)) from None


def json_argument(value: str | None, what: str) -> dict[str, Any] | None:
    """Inline JSON, ``@file``, or ``-`` for standard input; None when not given."""
    if value is None:
        return None
    if value == "-":
        value = sys.stdin.read()
    elif value.startswith("@"):
        try:
            value = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}") from None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"{what} must be a JSON object")
    return parsed


def print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@asynccontextmanager
async def progress(message: str) -> AsyncIterator[None]:
    """A spinner on a terminal's stderr while we wait; nothing when output is piped."""
    if not sys.stderr.isatty():
        yield
        return

    async def spin() -> None:
        for frame in itertools.cycle("|/-\\"):
            sys.stderr.write(f"\r{frame} {message}")
            sys.stderr.flush()
            await asyncio.sleep(0.1)

    spinner = asyncio.create_task(spin())
    try:
        yield
    finally:
        spinner.cancel()
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()

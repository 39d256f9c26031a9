"""What every CLI command shares: where settings come from, and how problems are reported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from llmrelay.errors import ConfigurationError
from llmrelay.settings import Settings, load_settings


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

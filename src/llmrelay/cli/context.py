"""What every CLI command shares: where settings come from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from llmrelay.errors import ConfigurationError
from llmrelay.settings import Settings, load_settings


@dataclass
class CliState:
    config_file: Path | None
    environ: Mapping[str, str]

    def settings(self) -> Settings:
        try:
            return load_settings(self.environ, config_file=self.config_file)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None

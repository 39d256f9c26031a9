"""Fixtures of the CLI tests: a runner on a temporary data directory, and a connector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmrelay.cli import main
from tests.conftest import TEST_ENCRYPTION_KEY, UPSTREAM_KEY
from tests.upstream import UpstreamServer


@pytest.fixture
def cli(tmp_path: Path) -> CliRunner:
    return CliRunner(
        env={
            "LLMRELAY_DATA_DIR": str(tmp_path / "data"),
            "LLMRELAY_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
        }
    )


def create_connector(cli: CliRunner, upstream: UpstreamServer, *extra: str) -> str:
    config = {"apiProvider": "OpenAI", "apiUrl": f"{upstream.base_url}/v1/chat/completions"}
    result = cli.invoke(
        main,
        [
            "connectors",
            "create",
            "--name",
            "cli-openai",
            "--config",
            json.dumps(config),
            "--secrets",
            json.dumps({"apiKey": UPSTREAM_KEY}),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    connector_id: str = json.loads(result.stdout)["id"]
    return connector_id

"""The CLI covers create → list → run → delete on the local database, without the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmrelay.cli import main
from tests.conftest import TEST_ENCRYPTION_KEY, UPSTREAM_KEY
from tests.upstream import Fail, UpstreamServer


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


def test_create_list_get_delete(cli: CliRunner, upstream: UpstreamServer) -> None:
    cid = create_connector(cli, upstream, "--id", "cli-conn")
    assert cid == "cli-conn"
    table = cli.invoke(main, ["connectors", "list"])
    assert table.exit_code == 0
    assert "cli-conn" in table.stdout
    assert "cli-openai" in table.stdout
    assert "OpenAI" in table.stdout
    listed = json.loads(cli.invoke(main, ["connectors", "list", "--json"]).stdout)
    assert [c["id"] for c in listed] == ["cli-conn"]
    shown = json.loads(cli.invoke(main, ["connectors", "get", "cli-conn"]).stdout)
    assert shown["config"]["defaultModel"] == "gpt-4.1"
    assert UPSTREAM_KEY not in json.dumps(shown)
    assert cli.invoke(main, ["connectors", "delete", "cli-conn"]).exit_code == 0
    gone = cli.invoke(main, ["connectors", "get", "cli-conn"])
    assert gone.exit_code == 1
    assert "Saved object [action/cli-conn] not found" in gone.output


def test_invalid_connector_is_refused_with_the_api_message(cli: CliRunner) -> None:
    result = cli.invoke(
        main, ["connectors", "create", "--name", "x", "--config", '{"apiProvider": "OpenAI"}']
    )
    assert result.exit_code == 1
    assert "[1.apiUrl]: expected value of type [string] but got [undefined]" in result.output
    assert json.loads(cli.invoke(main, ["connectors", "list", "--json"]).stdout) == []


def test_run_prints_the_result(cli: CliRunner, upstream: UpstreamServer, tmp_path: Path) -> None:
    cid = create_connector(cli, upstream)
    body = tmp_path / "body.json"
    body.write_text('{"messages":[{"role":"user","content":"Hello from the CLI"}]}')
    result = cli.invoke(main, ["run", cid, "--body", str(body)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "ok"
    assert out["data"]["choices"][0]["message"]["content"] == "Hello! You said: Hello from the CLI"


def test_run_reads_stdin_and_streams_tokens(cli: CliRunner, upstream: UpstreamServer) -> None:
    cid = create_connector(cli, upstream)
    body = '{"messages":[{"role":"user","content":"stream me"}]}'
    result = cli.invoke(main, ["run", cid, "--body", "-", "--stream"], input=body)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Hello! You said: stream me"


def test_run_failure_exits_non_zero(cli: CliRunner, upstream: UpstreamServer) -> None:
    cid = create_connector(cli, upstream)
    upstream.queue(Fail(500, ""))
    result = cli.invoke(main, ["run", cid, "--body", "-"], input='{"messages":[]}')
    assert result.exit_code == 1
    assert "Status code: 500" in result.stdout


def test_db_upgrade(cli: CliRunner) -> None:
    result = cli.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout

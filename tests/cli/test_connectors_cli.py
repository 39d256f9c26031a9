"""`llmrelay connectors ...` on the local database, without the server."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from llmrelay.cli import main
from tests.cli.conftest import create_connector
from tests.conftest import UPSTREAM_KEY
from tests.upstream import UpstreamServer


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


def test_db_upgrade(cli: CliRunner) -> None:
    result = cli.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout


def test_update_keeps_what_is_not_given(cli: CliRunner, upstream: UpstreamServer) -> None:
    cid = create_connector(cli, upstream)
    result = cli.invoke(
        main,
        ["connectors", "update", cid, "--name", "renamed", "--secrets", '{"apiKey": "sk-2"}'],
    )
    assert result.exit_code == 0, result.output
    updated = json.loads(result.stdout)
    assert updated["name"] == "renamed"
    assert updated["config"]["apiUrl"] == f"{upstream.base_url}/v1/chat/completions"
    no_secrets = cli.invoke(main, ["connectors", "update", cid, "--name", "x"])
    assert no_secrets.exit_code == 1
    assert "error validating action type secrets" in no_secrets.output


def test_create_from_a_kibana_shaped_file(
    cli: CliRunner, upstream: UpstreamServer, tmp_path: Path
) -> None:
    body = tmp_path / "connector.json"
    body.write_text(
        json.dumps(
            {
                "name": "from-file",
                "connector_type_id": ".gen-ai",
                "config": {
                    "apiProvider": "Other",
                    "apiUrl": upstream.chat_completions_url,
                    "defaultModel": "local",
                },
                "secrets": {"apiKey": "k"},
            }
        )
    )
    result = cli.invoke(main, ["connectors", "create", "--file", f"@{body}", "--name", "flag-wins"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert (created["name"], created["config"]["defaultModel"]) == ("flag-wins", "local")


def test_completion_script(cli: CliRunner) -> None:
    result = cli.invoke(main, ["completion", "bash"])
    assert result.exit_code == 0
    assert "_LLMRELAY_COMPLETE" in result.stdout

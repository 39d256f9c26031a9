"""``llmrelay run``: any sub-action, plain or streamed, from a file, stdin or flags."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from llmrelay.cli import main
from tests.cli.conftest import create_connector
from tests.upstream import Fail, UpstreamServer


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


def test_run_any_sub_action_with_params(cli: CliRunner, upstream: UpstreamServer) -> None:
    cid = create_connector(cli, upstream)
    params = json.dumps({"messages": [{"role": "user", "content": "invoke me"}]})
    result = cli.invoke(main, ["run", cid, "--sub-action", "invokeAI", "--params", params])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["data"]["message"] == "Hello! You said: invoke me"


def test_run_needs_a_request(cli: CliRunner, upstream: UpstreamServer) -> None:
    cid = create_connector(cli, upstream)
    result = cli.invoke(main, ["run", cid])
    assert result.exit_code == 2
    assert "give the request with --body or --params" in result.output


def test_executions_lists_what_ran(cli: CliRunner, upstream: UpstreamServer) -> None:
    cid = create_connector(cli, upstream)
    cli.invoke(
        main, ["run", cid, "--body", "-"], input='{"messages":[{"role":"user","content":"a b"}]}'
    )
    upstream.queue(Fail(500, ""))
    cli.invoke(
        main, ["run", cid, "--body", "-"], input='{"messages":[{"role":"user","content":"x"}]}'
    )
    table = cli.invoke(main, ["executions", "--connector", cid])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["TIME", "CONNECTOR", "SUB-ACTION", "OUTCOME"]
    assert "failure" in lines[1]
    assert "Status code: 500" in lines[1]
    assert "success" in lines[2]
    events = json.loads(cli.invoke(main, ["executions", "--json"]).stdout)
    usage = events[1]["kibana"]["action"]["execution"]["gen_ai"]["usage"]
    assert usage["total_tokens"] == 7  # "a b": 2 prompt words + 5 answer words
    assert events[1]["kibana"]["action"]["execution"]["source"] == "cli"
    unknown = cli.invoke(main, ["executions", "--connector", "nope"])
    assert unknown.exit_code == 1


def test_executions_export_writes_every_event_as_csv_or_ndjson(
    cli: CliRunner, upstream: UpstreamServer
) -> None:
    cid = create_connector(cli, upstream)
    for _ in range(2):
        cli.invoke(
            main,
            ["run", cid, "--body", "-"],
            input='{"messages":[{"role":"user","content":"a b"}]}',
        )
    upstream.queue(Fail(500, ""))
    cli.invoke(
        main, ["run", cid, "--body", "-"], input='{"messages":[{"role":"user","content":"x"}]}'
    )
    exported = cli.invoke(main, ["executions", "--connector", cid, "--export", "csv"])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["outcome"] for r in rows] == ["success", "success", "failure"]  # oldest first
    assert rows[0]["total_tokens"] == "7"
    failures = cli.invoke(
        main,
        [
            "executions",
            "--connector",
            cid,
            "--export",
            "ndjson",
            "--outcome",
            "failure",
            "--start",
            "2000-01-01",
        ],
    )
    [line] = failures.stdout.splitlines()
    assert json.loads(line)["event"]["outcome"] == "failure"
    later = cli.invoke(
        main, ["executions", "--connector", cid, "--export", "ndjson", "--start", "2999-01-01"]
    )
    assert (later.exit_code, later.stdout) == (0, "")
    needs_connector = cli.invoke(main, ["executions", "--export", "csv"])
    assert needs_connector.exit_code == 2
    assert "--export needs --connector" in needs_connector.output
    backwards = cli.invoke(
        main,
        [
            "executions",
            "--connector",
            cid,
            "--export",
            "csv",
            "--start",
            "2026-02-01",
            "--end",
            "2026-01-01",
        ],
    )
    assert backwards.exit_code == 1
    assert "[end]: 2026-01-01T00:00:00+00:00 is before [start]" in backwards.output

"""``llmrelay users`` and ``llmrelay audit`` on the local database."""

from __future__ import annotations

import json

from click.testing import CliRunner

from llmrelay.cli import main


def test_users_create_list_passwd_delete(cli: CliRunner) -> None:
    created = cli.invoke(
        main,
        ["users", "create", "lena", "--role", "viewer", "--email", "l@x", "--password-stdin"],
        input="first-password-1\n",
    )
    assert created.exit_code == 0, created.output
    listed = json.loads(cli.invoke(main, ["users", "list"]).stdout)
    assert [(u["username"], u["roles"], u["email"]) for u in listed] == [
        ("lena", ["viewer"], "l@x")
    ]
    assert "first-password-1" not in cli.invoke(main, ["users", "list"]).output
    again = cli.invoke(main, ["users", "create", "lena", "--password-stdin"], input="x" * 9 + "\n")
    assert again.exit_code == 1
    assert "already exists" in again.output
    changed = cli.invoke(main, ["users", "passwd", "lena"], input="second-pass-2\nsecond-pass-2\n")
    assert changed.exit_code == 0, changed.output
    assert cli.invoke(main, ["users", "delete", "lena"]).exit_code == 0
    assert json.loads(cli.invoke(main, ["users", "list"]).stdout) == []
    audit = json.loads(cli.invoke(main, ["audit", "--user", "local-cli"]).stdout)
    actions = [e["event"]["action"] for e in audit]
    assert actions == ["user_delete", "user_change_password", "user_create"]


def test_users_bad_input_is_one_line_and_changes_nothing(cli: CliRunner) -> None:
    unknown_role = cli.invoke(
        main,
        ["users", "create", "max", "--role", "wizard", "--password-stdin"],
        input="long-enough-1\n",
    )
    assert unknown_role.exit_code == 1
    assert "unknown role [wizard]" in unknown_role.output
    assert "Traceback" not in unknown_role.output
    short = cli.invoke(main, ["users", "create", "max", "--password-stdin"], input="short\n")
    assert short.exit_code == 1
    assert "at least 8" in short.output
    missing = cli.invoke(main, ["users", "delete", "nobody"])
    assert missing.exit_code == 1
    assert "user [nobody] not found" in missing.output
    assert json.loads(cli.invoke(main, ["users", "list"]).stdout) == []


def test_cli_executions_are_recorded_as_local_cli(cli: CliRunner) -> None:
    audit = cli.invoke(main, ["audit", "--outcome", "failure", "--limit", "5"])
    assert audit.exit_code == 0
    assert json.loads(audit.stdout) == []

"""``llmrelay config check|show``: validate without starting, show with secrets masked."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from llmrelay.cli import main

GOOD = """
xpack.encryptedSavedObjects.encryptionKey: ${ESO_KEY}
xpack.encryptedSavedObjects.keyRotation.decryptionOnlyKeys: ["old-key-0123456789-0123456789-0123"]
database.url: postgresql://relay:db-password@db:5432/llmrelay
xpack.actions.proxyUrl: http://proxy-user:proxy-password@proxy.internal:3128
xpack.actions.proxyHeaders: {Proxy-Authorization: Basic cHJveHktaGVhZGVyLXNlY3JldA==}
xpack.actions.preconfigured:
  my-gen-ai:
    name: Preconfigured OpenAI
    actionTypeId: .gen-ai
    config: {apiProvider: OpenAI, apiUrl: "https://api.openai.com/v1/chat/completions"}
    secrets: {apiKey: "${OPENAI_API_KEY}"}
"""
ENV = {"ESO_KEY": "eso-key-0123456789-0123456789-0123456", "OPENAI_API_KEY": "sk-very-secret"}


def run(tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    path = tmp_path / "llmrelay.yml"
    path.write_text(text)
    result = CliRunner(env=ENV).invoke(main, ["--config", str(path), *args])
    return result.exit_code, result.output


def test_check_accepts_a_valid_file(tmp_path: Path) -> None:
    code, output = run(tmp_path, GOOD, "config", "check")
    assert code == 0, output
    assert "valid (1 preconfigured connector)" in output


def test_check_names_what_is_wrong(tmp_path: Path) -> None:
    bad = GOOD.replace("apiProvider: OpenAI, ", "")
    code, output = run(tmp_path, bad, "config", "check")
    assert code == 1
    assert 'preconfigured connector "my-gen-ai": error validating action type config' in output
    assert "Traceback" not in output
    code, output = run(tmp_path, "server: [\n", "config", "check")
    assert code == 1
    assert "llmrelay.yml line" in output


def test_show_masks_every_secret(tmp_path: Path) -> None:
    code, output = run(tmp_path, GOOD, "config", "show")
    assert code == 0, output
    secrets = (ENV["ESO_KEY"], ENV["OPENAI_API_KEY"], "db-password", "old-key-0123456789")
    for secret in (*secrets, "proxy-password", "cHJveHktaGVhZGVyLXNlY3JldA"):
        assert secret not in output
    assert "http://proxy-user:********@proxy.internal:3128" in output
    assert "postgresql://relay:********@db:5432/llmrelay" in output
    assert "apiKey: '********'" in output
    assert "https://api.openai.com/v1/chat/completions" in output


def test_check_names_an_unreadable_ca_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.pem"
    text = f"""
xpack.actions.customHostSettings:
  - url: https://llm.internal
    ssl: {{certificateAuthoritiesFiles: ["{missing}"]}}
"""
    code, output = run(tmp_path, text, "config", "check")
    assert code == 1
    assert (
        "xpack.actions.customHostSettings[0].ssl.certificateAuthoritiesFiles: "
        f"cannot read {missing}: No such file or directory"
    ) in output

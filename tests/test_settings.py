"""Settings from defaults, a YAML file, the environment and flags, with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmrelay.errors import ConfigurationError
from llmrelay.settings import load_settings


def test_defaults_are_a_laptop_setup() -> None:
    settings = load_settings({})
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 5601)
    assert settings.database_url == "sqlite+aiosqlite:///data/llmrelay.db"
    assert settings.actions.allowed_hosts == ("*",)


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "llmrelay.yml"
    config.write_text("server:\n  port: 7000\n  host: 0.0.0.0\nlog_level: debug\n")
    settings = load_settings(
        {"LLMRELAY_PORT": "7100", "LLMRELAY_DATABASE_URL": "postgresql://db/x"},
        {"server.port": 7200},
        config,
    )
    assert settings.server.port == 7200
    assert settings.server.host == "0.0.0.0"
    assert settings.log_level == "debug"
    assert settings.database_url == "postgresql://db/x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server:\n  port: [\n", "line 3"),
        ("server:\n  port: lots\n", "server.port"),
        ("- a list\n", "top level must be a mapping"),
    ],
)
def test_config_file_errors_name_the_file_and_the_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    config = tmp_path / "bad.yml"
    config.write_text(text)
    with pytest.raises(ConfigurationError) as raised:
        load_settings({}, config_file=config)
    assert str(config) in str(raised.value)
    assert expected in str(raised.value)


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        load_settings({}, config_file=tmp_path / "absent.yml")


def test_log_level_is_checked_and_case_insensitive() -> None:
    assert load_settings({"LLMRELAY_LOG_LEVEL": "WARNING"}).log_level == "warning"
    with pytest.raises(ConfigurationError, match="log_level"):
        load_settings({"LLMRELAY_LOG_LEVEL": "verbose"})


def test_a_short_admin_password_stops_start_up_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"LLMRELAY_ADMIN_PASSWORD": "hunter2"})
    assert "security.admin_password: must be at least 8 characters" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_trusted_proxies_are_addresses_or_ranges_and_none_by_default() -> None:
    assert load_settings({}).server.trusted_proxies == ()
    ranges = load_settings({}, {"server.trusted_proxies": ["127.0.0.1", "10.0.0.0/8", "::1"]})
    assert ranges.server.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    with pytest.raises(ConfigurationError, match=r"\[proxy.internal\] is not an IP address"):
        load_settings({}, {"server.trusted_proxies": ["proxy.internal"]})

"""load_or_create_key: the first start generates a key, later starts reuse it."""

from __future__ import annotations

import logging
import stat
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from llmrelay.errors import ConfigurationError
from llmrelay.settings import Settings
from llmrelay.storage import key_file_path, load_or_create_key

LOGGER = logging.getLogger("tests.storage.keys")


def test_generated_key_is_saved_privately_and_announced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "fresh" / "data")

    with caplog.at_level(logging.WARNING, logger=LOGGER.name):
        key = load_or_create_key(settings, LOGGER)

    path = key_file_path(settings)
    assert path == tmp_path / "fresh" / "data" / "encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert len(key) >= 32
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert key not in message
    assert str(path) in message
    assert "back this file up" in message
    assert "LLMRELAY_ENCRYPTION_KEY" in message
    assert [p.name for p in path.parent.iterdir()] == ["encryption.key"]


def test_second_start_reuses_the_key_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_or_create_key(settings, LOGGER)
    caplog.clear()

    with caplog.at_level(logging.DEBUG, logger=LOGGER.name):
        second = load_or_create_key(settings, LOGGER)

    assert second == first
    assert caplog.records == []


def test_explicit_setting_wins(tmp_path: Path) -> None:
    (tmp_path / "encryption.key").write_text("a-key-from-the-file-" + "f" * 20)
    settings = Settings(data_dir=tmp_path, encryption_key=SecretStr("k" * 40))

    assert load_or_create_key(settings, LOGGER) == "k" * 40


def test_explicit_setting_creates_no_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", encryption_key=SecretStr("k" * 40))

    load_or_create_key(settings, LOGGER)

    assert not (tmp_path / "data").exists()


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    keys: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(load_or_create_key(settings, LOGGER))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(keys) == 8
    assert set(keys) == {key_file_path(settings).read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == ["encryption.key"]


def test_readable_key_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "encryption.key"
    path.write_text("an-existing-key-that-is-long-enough-0123\n")
    path.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger=LOGGER.name):
        key = load_or_create_key(Settings(data_dir=tmp_path), LOGGER)

    assert key == "an-existing-key-that-is-long-enough-0123"
    assert "chmod 600" in caplog.text
    assert key not in caplog.text


def test_empty_key_file_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "encryption.key").write_text("\n")

    with pytest.raises(ConfigurationError, match="is empty"):
        load_or_create_key(Settings(data_dir=tmp_path), LOGGER)

"""Where the master encryption key comes from when the operator did not set one.

A first start should just work, so without ``LLMRELAY_ENCRYPTION_KEY`` a key is generated into
``<data_dir>/encryption.key`` (mode 0600) and a warning says to back it up: losing the file makes
every stored secret unreadable. Several processes may start at once on a fresh data directory,
so the file is published atomically and never overwritten; whoever loses the race reads the
winner's key.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from llmrelay.errors import ConfigurationError
from llmrelay.settings import Settings

KEY_FILE_NAME = "encryption.key"
ENVIRONMENT_VARIABLE = "LLMRELAY_ENCRYPTION_KEY"


def key_file_path(settings: Settings) -> Path:
    """The file a generated key is kept in."""
    return settings.data_dir / KEY_FILE_NAME


def load_or_create_key(settings: Settings, logger: logging.Logger) -> str:
    """Return the master key: the setting if given, else the key file, else a new key file.

    The key itself is never logged; the warning on generation names only the file.
    """
    if settings.encryption_key is not None:
        return settings.encryption_key.get_secret_value()
    path = key_file_path(settings)
    try:
        return _read_key(path, logger)
    except FileNotFoundError:
        pass
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the data directory {settings.data_dir.resolve()} for the "
            f"encryption key: {exc.strerror or exc}"
        ) from exc
    key = secrets.token_urlsafe(32)
    try:
        created = _publish(path, key)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the encryption key file {path.resolve()}: {exc.strerror or exc}"
        ) from exc
    if not created:
        return _read_key(path, logger)
    logger.warning(
        "No encryption key was configured, so a new one was generated and saved to %s. "
        "It encrypts every connector's secrets: back this file up (losing it makes stored "
        "secrets unreadable), or move the key into the %s environment variable.",
        path.resolve(),
        ENVIRONMENT_VARIABLE,
    )
    return key


def _read_key(path: Path, logger: logging.Logger) -> str:
    """Read an existing key file; ``FileNotFoundError`` when there is none."""
    try:
        key = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read the encryption key file {path.resolve()}: {exc}"
        ) from exc
    if not key:
        raise ConfigurationError(f"the encryption key file {path.resolve()} is empty")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning(
            "The encryption key file %s can be read by other users (mode %o); restrict it with "
            "chmod 600.",
            path.resolve(),
            stat.S_IMODE(mode),
        )
    return key


def _publish(path: Path, key: str) -> bool:
    """Create ``path`` holding ``key`` unless it exists; ``False`` if another process won.

    The key is written and synced to a private temporary file first and then hard-linked into
    place, which fails if the name exists: readers never see a half-written key and an existing
    key is never replaced. Where hard links are unsupported the file is created in place with
    ``O_EXCL`` instead.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    _write_exclusive(temporary, key)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    except OSError:
        try:
            _write_exclusive(path, key)
        except FileExistsError:
            return False
    finally:
        temporary.unlink(missing_ok=True)
    return True


def _write_exclusive(path: Path, key: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, f"{key}\n".encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

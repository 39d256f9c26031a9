"""Settings: built once by the entry point and passed down; nothing reads them from a global.

Values come, in increasing precedence, from defaults, a YAML config file (``files.py``), the
environment (``ENVIRONMENT_VARIABLES``) and explicit overrides (CLI flags).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmrelay.errors import ConfigurationError
from llmrelay.settings.files import KIBANA_KEYS, ConfigFile, read_config_file, set_path
from llmrelay.settings.models import (
    ActionsSettings,
    CustomHostSettings,
    CustomHostSsl,
    DatabaseSettings,
    EventLogSettings,
    PreconfiguredConnector,
    SecuritySettings,
    ServerSettings,
    Settings,
    SslSettings,
    VerificationMode,
)

ENVIRONMENT_VARIABLES: dict[str, tuple[str, ...]] = {
    "LLMRELAY_DATA_DIR": ("data_dir",),
    "LLMRELAY_HOST": ("server", "host"),
    "LLMRELAY_PORT": ("server", "port"),
    "LLMRELAY_PUBLIC_BASE_URL": ("server", "public_base_url"),
    "LLMRELAY_MAX_PAYLOAD_BYTES": ("server", "max_payload_bytes"),
    "LLMRELAY_MAX_HEADER_BYTES": ("server", "max_header_bytes"),
    "LLMRELAY_DATABASE_URL": ("database", "url"),
    "LLMRELAY_EVENT_LOG_ENABLED": ("event_log", "enabled"),
    "LLMRELAY_ENCRYPTION_KEY": ("encryption_key",),
    "LLMRELAY_ENCRYPTION_PREVIOUS_KEYS": ("encryption_previous_keys",),
    "LLMRELAY_LOG_LEVEL": ("log_level",),
    "LLMRELAY_EVENT_LOG_RETENTION_DAYS": ("event_log", "retention_days"),
    "LLMRELAY_EVENT_LOG_MAX_BACKLOG": ("event_log", "max_backlog"),
    "LLMRELAY_TOKENIZER_DIR": ("event_log", "tokenizer_dir"),
    "LLMRELAY_ADMIN_PASSWORD": ("security", "admin_password"),
}
"""Environment variables and the setting each sets. ``LLMRELAY_CONFIG`` names the config file;
``LLMRELAY_ENCRYPTION_PREVIOUS_KEYS`` takes a comma-separated list."""

LIST_VARIABLES = frozenset({"LLMRELAY_ENCRYPTION_PREVIOUS_KEYS"})


def load_settings(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    config_file: Path | None = None,
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """Build settings from a config file, the environment and dotted-key overrides.

    A bad value stops start-up with one message naming the file and the key as written there;
    ``warn`` hears once about each key of the file that llmrelay does not support.
    """
    environ = environ or {}
    config = read_config_file(config_file, environ) if config_file else None
    raw: dict[str, Any] = config.values if config else {}
    for name, path in ENVIRONMENT_VARIABLES.items():
        if environ.get(name):
            value: object = environ[name]
            if name in LIST_VARIABLES:
                value = [part.strip() for part in environ[name].split(",") if part.strip()]
            set_path(raw, path, value)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            set_path(raw, tuple(dotted.split(".")), value)
    if config and warn:
        for key in config.ignored:
            warn(f"{config.path}: {key} is not supported by llmrelay and is ignored")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc, config)) from None


def _describe(exc: ValidationError, config: ConfigFile | None) -> str:
    problems = []
    for error in exc.errors():
        native = tuple(str(part) for part in error["loc"])
        key = config.key_as_written(native) if config else ".".join(native)
        problems.append(f"{key}: {error['msg'].removeprefix('Value error, ')}")
    where = f"{config.path}: " if config else ""
    return f"{where}invalid settings: {'; '.join(problems)}"


__all__ = [
    "ENVIRONMENT_VARIABLES",
    "KIBANA_KEYS",
    "ActionsSettings",
    "ConfigFile",
    "CustomHostSettings",
    "CustomHostSsl",
    "DatabaseSettings",
    "EventLogSettings",
    "PreconfiguredConnector",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SslSettings",
    "VerificationMode",
    "load_settings",
    "read_config_file",
]

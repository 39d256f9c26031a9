"""Settings: built once by the entry point and passed down; nothing reads them from a global.

Values come, in increasing precedence, from defaults, a YAML config file, the environment (the
``ENVIRONMENT_VARIABLES`` table) and explicit overrides (CLI flags). Every key is documented in
``docs/settings.md``; a test fails when one is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from llmrelay.errors import ConfigurationError

DEFAULT_PORT = 5601
ONE_MIB = 1024 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    max_payload_bytes: int = Field(default=ONE_MIB, gt=0)
    """Largest request body accepted (Kibana's ``server.maxPayload``); larger ones get a 413."""


class DatabaseSettings(_Section):
    url: str | None = None
    """SQLAlchemy URL; ``None`` means SQLite at ``<data_dir>/llmrelay.db``."""
    execution_cache_ttl_s: float = Field(default=1.0, ge=0)
    """How long an execution may reuse a connector read from the database (0: never)."""


class ActionsSettings(_Section):
    """Kibana's ``xpack.actions.*`` settings that the connector runtime honours."""

    allowed_hosts: tuple[str, ...] = ("*",)
    response_timeout_s: float = Field(default=60.0, gt=0)
    max_response_content_length_bytes: int = Field(default=ONE_MIB, gt=0)


class Settings(_Section):
    data_dir: Path = Path("data")
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    actions: ActionsSettings = ActionsSettings()
    encryption_key: SecretStr | None = None
    """At least 32 characters; when absent one is generated into ``<data_dir>/encryption.key``."""
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'llmrelay.db').as_posix()}"


ENVIRONMENT_VARIABLES: dict[str, tuple[str, ...]] = {
    "LLMRELAY_DATA_DIR": ("data_dir",),
    "LLMRELAY_HOST": ("server", "host"),
    "LLMRELAY_PORT": ("server", "port"),
    "LLMRELAY_MAX_PAYLOAD_BYTES": ("server", "max_payload_bytes"),
    "LLMRELAY_DATABASE_URL": ("database", "url"),
    "LLMRELAY_ENCRYPTION_KEY": ("encryption_key",),
    "LLMRELAY_LOG_LEVEL": ("log_level",),
}


def _set_path(target: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def read_config_file(path: Path) -> dict[str, Any]:
    """The YAML file as nested settings; a syntax error names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigurationError(f"{path}{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: the top level must be a mapping of settings")
    return data


def load_settings(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build settings from a config file, the environment and dotted-key overrides.

    A bad value stops start-up with one message naming the setting, rather than failing later.
    """
    raw: dict[str, Any] = read_config_file(config_file) if config_file else {}
    for name, path in ENVIRONMENT_VARIABLES.items():
        if environ is not None and environ.get(name):
            _set_path(raw, path, environ[name])
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_path(raw, tuple(dotted.split(".")), value)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        source = f" in {config_file}" if config_file else ""
        raise ConfigurationError(f"invalid settings{source}: {problems}") from None

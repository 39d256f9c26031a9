"""The settings models: every key llmrelay reads, its type, default and meaning.

Every key is documented in ``docs/settings.md``; a test fails when one is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_PORT = 5601
ONE_MIB = 1024 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    max_payload_bytes: int = Field(default=ONE_MIB, gt=0)
    """Largest request body accepted (Kibana's ``server.maxPayload``); larger ones get a 413."""
    public_base_url: str | None = None
    """The URL users reach llmrelay at, when it is behind a proxy (Kibana's ``publicBaseUrl``)."""


class DatabaseSettings(_Section):
    url: str | None = None
    """SQLAlchemy URL; ``None`` means SQLite at ``<data_dir>/llmrelay.db``."""
    execution_cache_ttl_s: float = Field(default=1.0, ge=0)
    """How long an execution may reuse a connector read from the database (0: never)."""


class EventLogSettings(_Section):
    enabled: bool = True
    """Whether executions leave an event; off, nothing is queued or written (issue 5's opt-out)."""


RESERVED_CONNECTOR_IDS = frozenset({"", "__proto__", "constructor"})
ALERT_HISTORY_ID = "preconfigured-alert-history-es-index"


class PreconfiguredConnector(_Section):
    """One ``xpack.actions.preconfigured.<id>`` entry, with Kibana's field names."""

    name: str = Field(min_length=1)
    actionTypeId: str = Field(min_length=1)
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    exposeConfig: bool = False


class ActionsSettings(_Section):
    """Kibana's ``xpack.actions.*`` settings that the connector runtime honours."""

    allowed_hosts: tuple[str, ...] = ("*",)
    enabled_action_types: tuple[str, ...] = ("*",)
    response_timeout_s: float = Field(default=60.0, gt=0)
    max_response_content_length_bytes: int = Field(default=ONE_MIB, gt=0)
    preconfigured: dict[str, PreconfiguredConnector] = {}

    @field_validator("preconfigured")
    @classmethod
    def _valid_ids(
        cls, connectors: dict[str, PreconfiguredConnector]
    ) -> dict[str, PreconfiguredConnector]:
        for connector_id in connectors:
            if connector_id in RESERVED_CONNECTOR_IDS or connector_id == ALERT_HISTORY_ID:
                raise ValueError(f'invalid preconfigured action id "{connector_id}"')
        return connectors


class Settings(_Section):
    data_dir: Path = Path("data")
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    actions: ActionsSettings = ActionsSettings()
    event_log: EventLogSettings = EventLogSettings()
    encryption_key: SecretStr | None = None
    """At least 32 characters; when absent one is generated into ``<data_dir>/encryption.key``."""
    encryption_previous_keys: tuple[SecretStr, ...] = ()
    """Older keys, still accepted for decryption while secrets are re-encrypted (rotation)."""
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

"""The settings models: every key llmrelay reads, its type, default and meaning.

Every key is documented in ``docs/settings.md``; a test fails when one is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

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


RESERVED_CONNECTOR_IDS = frozenset({"", "__proto__", "constructor"})
ALERT_HISTORY_ID = "preconfigured-alert-history-es-index"


class PreconfiguredConnector(_Section):
    """One ``xpack.actions.preconfigured.<id>`` entry, with Kibana's field names."""

    name: str = Field(min_length=1)
    actionTypeId: str = Field(min_length=1)
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    exposeConfig: bool = False


VerificationMode = Literal["full", "certificate", "none"]


class SslSettings(_Section):
    """Kibana's ``xpack.actions.ssl.*``: how servers' (and the proxy's) certificates are checked."""

    verification_mode: VerificationMode = "full"
    proxy_verification_mode: VerificationMode = "full"


class CustomHostSsl(_Section):
    """The ``ssl`` part of one ``customHostSettings`` entry, with Kibana's field names."""

    verificationMode: VerificationMode | None = None
    certificateAuthoritiesFiles: str | tuple[str, ...] | None = None
    certificateAuthoritiesData: str | None = None

    @field_validator("certificateAuthoritiesFiles")
    @classmethod
    def _not_empty(cls, files: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        if files is not None and len(files) == 0:
            raise ValueError("must be a file name or a non-empty list of file names")
        return files


class CustomHostSettings(_Section):
    """One ``xpack.actions.customHostSettings`` entry; ``smtp`` is accepted and not used."""

    url: str = Field(min_length=1)
    ssl: CustomHostSsl | None = None
    smtp: dict[str, bool] | None = None


def _http_url(value: str, what: str) -> str:
    """A proxy URL must parse now: a typo would otherwise send traffic around the proxy."""
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"[{value}] is not a valid {what}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"[{value}] is not a valid {what}: use http://host:port or https://host:port"
        )
    return value


class ActionsSettings(_Section):
    """Kibana's ``xpack.actions.*`` settings that the connector runtime honours."""

    allowed_hosts: tuple[str, ...] = ("*",)
    enabled_action_types: tuple[str, ...] = ("*",)
    response_timeout_s: float = Field(default=60.0, gt=0)
    max_response_content_length_bytes: int = Field(default=ONE_MIB, gt=0)
    preconfigured: dict[str, PreconfiguredConnector] = {}
    proxy_url: str | None = Field(default=None, repr=False)
    """May carry credentials (``http://user:password@proxy:3128``): kept out of reprs."""
    proxy_headers: dict[str, str] = Field(default={}, repr=False)
    proxy_bypass_hosts: tuple[str, ...] | None = None
    proxy_only_hosts: tuple[str, ...] | None = None
    ssl: SslSettings = SslSettings()
    custom_host_settings: tuple[CustomHostSettings, ...] = ()

    @field_validator("proxy_url")
    @classmethod
    def _valid_proxy_url(cls, url: str | None) -> str | None:
        return None if url is None else _http_url(url, "proxy URL")

    @field_validator("proxy_headers")
    @classmethod
    def _safe_proxy_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if any(c in name + value for c in "\r\n\0") or not name.strip():
                raise ValueError(f"header [{name}] has an empty name or contains CR, LF or NUL")
        return headers

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

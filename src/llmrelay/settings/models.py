"""The settings models: every key llmrelay reads, its type, default and meaning.

Every key is documented in ``docs/settings.md``; a test fails when one is not.
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_PORT = 5601
ONE_MIB = 1024 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSslSettings(_Section):
    """HTTPS for ``llmrelay serve`` itself (Kibana's ``server.ssl.*``)."""

    enabled: bool = False
    certificate: Path | None = None
    """PEM certificate (chain) file."""
    key: Path | None = None
    """PEM private key file (unencrypted)."""

    @model_validator(mode="after")
    def _files_when_enabled(self) -> ServerSslSettings:
        if self.enabled and (self.certificate is None or self.key is None):
            raise ValueError("server.ssl.enabled needs server.ssl.certificate and server.ssl.key")
        return self


class CorsSettings(_Section):
    """Cross-origin requests are refused unless enabled here (Kibana's ``server.cors.*``)."""

    enabled: bool = False
    allow_origin: tuple[str, ...] = ()
    allow_credentials: bool = False


class ServerSettings(_Section):
    ssl: ServerSslSettings = ServerSslSettings()
    cors: CorsSettings = CorsSettings()
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    max_payload_bytes: int = Field(default=ONE_MIB, gt=0)
    """Largest request body accepted (Kibana's ``server.maxPayload``); larger ones get a 413."""
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    """Longest request line and headers together; a longer head gets a 431 while it arrives."""
    public_base_url: str | None = None
    """The URL users reach llmrelay at, when it is behind a proxy (Kibana's ``publicBaseUrl``)."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or CIDR ranges whose ``X-Forwarded-For`` is believed; empty: nobody's."""

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        for entry in entries:
            try:
                ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"[{entry}] is not an IP address or a CIDR range such as 10.0.0.0/8"
                ) from None
        return entries


class DatabaseSettings(_Section):
    url: str | None = None
    """SQLAlchemy URL; ``None`` means SQLite at ``<data_dir>/llmrelay.db``."""
    execution_cache_ttl_s: float = Field(default=1.0, ge=0)
    """How long an execution may reuse a connector read from the database (0: never)."""


class EventLogSettings(_Section):
    enabled: bool = True
    """Whether executions leave an event; off, nothing is queued or written (issue 5's opt-out)."""
    retention_days: int = Field(default=90, ge=0)
    """Events older than this are deleted in the background; 0 keeps them for ever."""
    max_backlog: int = Field(default=300_000, ge=1)
    """Events kept in memory while the database cannot write (full disk, down); past this,
    new ones are dropped and counted. The default holds about a minute at full rate."""
    drain_timeout_s: float = Field(default=20.0, ge=0)
    """How long a clean shutdown may spend writing the events and audit records still queued;
    what is left then (the database cannot write, or the backlog is too large) is counted and
    logged as lost, so a shutdown never hangs."""
    tokenizer_dir: Path | None = None
    """Folder with tiktoken's ``cl100k_base`` rank file, for token estimates; ``None``:
    ``../shared/data/tiktoken`` beside a source checkout if there is one, else tiktoken's cache
    folder (never a download)."""


class SessionSettings(_Section):
    idle_timeout_s: float = Field(default=8 * 3600.0, gt=0)
    """A UI session unused this long ends (Kibana's ``xpack.security.session.idleTimeout``)."""
    lifespan_s: float = Field(default=30 * 86400.0, gt=0)
    """A UI session ends this long after login, used or not (``session.lifespan``)."""


class LoginThrottleSettings(_Section):
    free_attempts: int = Field(default=3, ge=1)
    """Failed password logins per user name and per client address before tries are held."""
    max_delay_s: float = Field(default=30.0, gt=0)
    """The longest a try for a user name is held (the back-off doubles from 1 s up to this)."""
    address_max_delay_s: float = Field(default=5.0, gt=0)
    """The longest a try from a client address is held; short, as people share addresses."""


class PasswordHashingSettings(_Section):
    """argon2id cost; the defaults are RFC 9106's second recommendation."""

    time_cost: int = Field(default=3, ge=1)
    memory_cost_kib: int = Field(default=65536, ge=8)
    parallelism: int = Field(default=4, ge=1)


class SecuritySettings(_Section):
    admin_password: SecretStr | None = None
    """Password of the ``admin`` superuser made at the first start; generated when unset."""
    authc_cache_ttl_s: float = Field(default=10.0, ge=0)
    """How long a verified password or API key is trusted without asking the database again."""
    same_site_cookies: Literal["Strict", "Lax"] = "Strict"
    secure_cookies: bool = False
    """Mark the session cookie ``Secure`` even over HTTP (HTTPS is terminated by a proxy)."""
    session: SessionSettings = SessionSettings()
    login_throttle: LoginThrottleSettings = LoginThrottleSettings()
    password_hashing: PasswordHashingSettings = PasswordHashingSettings()
    roles: dict[str, dict[str, Any]] = {}
    """Custom roles declared in the config file (Kibana role shape); read-only through the API."""
    audit_max_backlog: int = Field(default=300_000, ge=1)
    """Audit records kept in memory while the database cannot write, like
    ``event_log.max_backlog``; past this, new ones are dropped and counted."""

    @field_validator("admin_password")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("must be at least 8 characters")
        return value


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
    max_decompression_ratio: float = Field(default=250.0, ge=1)
    """A compressed stream may decode to this many times its wire size once past
    ``max_response_content_length_bytes``; a stream that grows further is cut (a gzip bomb)."""
    idle_connection_timeout_s: float = Field(default=15.0, gt=0)
    """A kept-alive provider (or proxy) connection unused this long is closed."""
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
    event_log: EventLogSettings = EventLogSettings()
    security: SecuritySettings = SecuritySettings()
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

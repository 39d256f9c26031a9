"""Composition root: builds the object graph from settings and registers connector types.

The only module that names a concrete connector type (DESIGN.md rule 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from llmrelay.actions_client import ActionsClient
from llmrelay.auth import (
    AuditLog,
    Authenticator,
    ClientAddresses,
    LoginThrottle,
    PasswordHashing,
    RoleRegistry,
    SecurityAdmin,
)
from llmrelay.connector_types.openai import OpenAIConnectorType
from llmrelay.connectors import ConnectorTypeRegistry, TiktokenCounter
from llmrelay.errors import ConfigurationError, UserError
from llmrelay.eventlog import EventLogPruner, EventLogQueries, EventLogWriter, UsageQueries
from llmrelay.execution import ActionExecutor, PendingEstimates
from llmrelay.settings import Settings
from llmrelay.storage import (
    ConnectorRepository,
    Database,
    EventStore,
    PreconfiguredConnectors,
    SecretsCipher,
    SecurityStore,
    UsageStore,
    load_or_create_key,
    preconfigured_connector,
)
from llmrelay.transport import HttpClientPool, NetworkPolicy, OutboundHttp

logger = logging.getLogger("llmrelay")


def tokenizer_dir(settings: Settings) -> Path | None:
    """``event_log.tokenizer_dir``; else, in a source checkout laid out as CI lays it (this
    repository with ``shared/`` beside it), ``../shared/data/tiktoken``; else None (tiktoken's
    own cache folder)."""
    if settings.event_log.tokenizer_dir is not None:
        return settings.event_log.tokenizer_dir
    beside_checkout = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tiktoken"
    return beside_checkout if beside_checkout.is_dir() else None


def build_registry(
    settings: Settings, tokens: TiktokenCounter | None = None
) -> ConnectorTypeRegistry:
    registry = ConnectorTypeRegistry(enabled=settings.actions.enabled_action_types)
    registry.register(
        OpenAIConnectorType(tokens=tokens or TiktokenCounter(tokenizer_dir(settings)))
    )
    return registry


def build_preconfigured(
    settings: Settings, registry: ConnectorTypeRegistry, policy: NetworkPolicy
) -> PreconfiguredConnectors:
    """Validate every declared connector now: a bad one stops start-up with one message.

    (Kibana only validates them when they run; finding out at start-up is kinder.)
    """
    loaded = []
    for connector_id, declared in settings.actions.preconfigured.items():
        where = f'preconfigured connector "{connector_id}"'
        try:
            connector_type = registry.get(declared.actionTypeId)
            config, secrets = connector_type.validate(declared.config, declared.secrets, policy)
        except UserError as exc:
            raise ConfigurationError(f"{where}: {exc.message}") from None
        loaded.append(
            preconfigured_connector(
                connector_id,
                name=declared.name,
                connector_type_id=declared.actionTypeId,
                config=config,
                secrets=secrets,
                expose_config=declared.exposeConfig,
            )
        )
    return PreconfiguredConnectors(loaded)


@dataclass(frozen=True)
class Services:
    settings: Settings
    database: Database
    actions: ActionsClient
    events: EventLogWriter
    estimates: PendingEstimates
    tokens: TiktokenCounter

    async def load_tokenizer(self) -> None:
        """Load the estimate encoding now, in a thread (0.35 s); a failure is logged, not raised."""
        with contextlib.suppress(LookupError):
            await asyncio.to_thread(self.tokens.count, "")

    async def flush_events(self) -> None:
        """Wait until every execution so far is in the database, estimates counted."""
        await self.estimates.wait()
        await self.events.flush()

    security: SecurityAdmin
    """Users, roles, API keys and the audit log, each use case checked against its principal."""
    authenticator: Authenticator
    audit: AuditLog


@asynccontextmanager
async def open_services(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Services]:
    """Everything a running llmrelay needs; closed in reverse order on exit."""
    previous_keys = [key.get_secret_value() for key in settings.encryption_previous_keys]
    cipher = SecretsCipher(load_or_create_key(settings, logger), previous_keys)
    policy = NetworkPolicy.from_settings(settings.actions)
    tokens = TiktokenCounter(tokenizer_dir(settings))
    registry = build_registry(settings, tokens)
    preconfigured = build_preconfigured(settings, registry, policy)
    pool = HttpClientPool(idle_timeout_s=settings.actions.idle_connection_timeout_s)
    try:
        async with Database(settings.database_url) as database:
            if migrate:
                await database.upgrade()
            connectors = ConnectorRepository(
                database, cipher, execution_cache_ttl_s=settings.database.execution_cache_ttl_s
            )
            http = OutboundHttp(pool, policy)
            security_store = SecurityStore(database)
            roles = RoleRegistry(security_store, settings.security.roles)
            hashing = PasswordHashing(settings.security.password_hashing)
            audit = AuditLog(
                security_store,
                max_backlog=settings.security.audit_max_backlog,
                drain_timeout_s=settings.event_log.drain_timeout_s,
            )
            authenticator = Authenticator(
                store=security_store,
                roles=roles,
                hashing=hashing,
                throttle=LoginThrottle(settings.security.login_throttle),
                audit=audit,
                settings=settings.security,
                addresses=ClientAddresses(settings.server.trusted_proxies),
            )
            security = SecurityAdmin(
                store=security_store,
                roles=roles,
                hashing=hashing,
                authenticator=authenticator,
                audit=audit,
            )
            store = EventStore(database)
            events = EventLogWriter(
                store,
                enabled=settings.event_log.enabled,
                max_backlog=settings.event_log.max_backlog,
                drain_timeout_s=settings.event_log.drain_timeout_s,
            )
            estimates = PendingEstimates(events)
            pruner = EventLogPruner(store, settings.event_log.retention_days)
            executor = ActionExecutor(
                registry=registry,
                connectors=connectors,
                preconfigured=preconfigured,
                http=http,
                events=events,
                estimates=estimates,
            )
            actions = ActionsClient(
                registry=registry,
                connectors=connectors,
                preconfigured=preconfigured,
                executor=executor,
                policy=policy,
                events=EventLogQueries(store),
                audit=audit,
                usage=UsageQueries(UsageStore(database)),
            )
            events.start()
            pruner.start()
            audit.start()
            logger.info("llmrelay uses the %s", database.description)
            try:
                yield Services(
                    settings=settings,
                    database=database,
                    actions=actions,
                    events=events,
                    estimates=estimates,
                    tokens=tokens,
                    security=security,
                    authenticator=authenticator,
                    audit=audit,
                )
            finally:
                await pruner.aclose()
                await estimates.wait()
                await events.aclose()
                await audit.aclose()
    finally:
        await pool.aclose()

"""Composition root: builds the object graph from settings and registers connector types.

The only module that names a concrete connector type (DESIGN.md rule 2).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from llmrelay.actions_client import ActionsClient
from llmrelay.connector_types.openai import OpenAIConnectorType
from llmrelay.connectors import ConnectorTypeRegistry
from llmrelay.errors import ConfigurationError, UserError
from llmrelay.eventlog import EventLogQueries, EventLogWriter
from llmrelay.execution import ActionExecutor
from llmrelay.settings import Settings
from llmrelay.storage import (
    ConnectorRepository,
    Database,
    EventStore,
    PreconfiguredConnectors,
    SecretsCipher,
    load_or_create_key,
    preconfigured_connector,
)
from llmrelay.transport import HttpClientPool, NetworkPolicy, OutboundHttp

logger = logging.getLogger("llmrelay")


def build_registry(settings: Settings) -> ConnectorTypeRegistry:
    registry = ConnectorTypeRegistry(enabled=settings.actions.enabled_action_types)
    registry.register(OpenAIConnectorType())
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


@asynccontextmanager
async def open_services(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Services]:
    """Everything a running llmrelay needs; closed in reverse order on exit."""
    previous_keys = [key.get_secret_value() for key in settings.encryption_previous_keys]
    cipher = SecretsCipher(load_or_create_key(settings, logger), previous_keys)
    policy = NetworkPolicy.from_settings(settings.actions)
    registry = build_registry(settings)
    preconfigured = build_preconfigured(settings, registry, policy)
    pool = HttpClientPool()
    try:
        async with Database(settings.database_url) as database:
            if migrate:
                await database.upgrade()
            connectors = ConnectorRepository(
                database, cipher, execution_cache_ttl_s=settings.database.execution_cache_ttl_s
            )
            http = OutboundHttp(pool, policy)
            store = EventStore(database)
            events = EventLogWriter(store, enabled=settings.event_log.enabled)
            executor = ActionExecutor(
                registry=registry,
                connectors=connectors,
                preconfigured=preconfigured,
                http=http,
                events=events,
            )
            actions = ActionsClient(
                registry=registry,
                connectors=connectors,
                preconfigured=preconfigured,
                executor=executor,
                policy=policy,
                events=EventLogQueries(store),
            )
            events.start()
            logger.info("llmrelay uses the %s", database.description)
            try:
                yield Services(settings=settings, database=database, actions=actions, events=events)
            finally:
                await events.aclose()
    finally:
        await pool.aclose()

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
from llmrelay.execution import ActionExecutor
from llmrelay.settings import Settings
from llmrelay.storage import ConnectorRepository, Database, SecretsCipher, load_or_create_key
from llmrelay.transport import HttpClientPool, NetworkPolicy, OutboundHttp

logger = logging.getLogger("llmrelay")


def build_registry() -> ConnectorTypeRegistry:
    registry = ConnectorTypeRegistry()
    registry.register(OpenAIConnectorType())
    return registry


@dataclass(frozen=True)
class Services:
    settings: Settings
    database: Database
    actions: ActionsClient


@asynccontextmanager
async def open_services(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Services]:
    """Everything a running llmrelay needs; closed in reverse order on exit."""
    cipher = SecretsCipher(load_or_create_key(settings, logger))
    policy = NetworkPolicy.from_settings(settings.actions)
    registry = build_registry()
    pool = HttpClientPool()
    try:
        async with Database(settings.database_url) as database:
            if migrate:
                await database.upgrade()
            connectors = ConnectorRepository(
                database, cipher, execution_cache_ttl_s=settings.database.execution_cache_ttl_s
            )
            http = OutboundHttp(pool, policy)
            executor = ActionExecutor(registry=registry, connectors=connectors, http=http)
            actions = ActionsClient(
                registry=registry, connectors=connectors, executor=executor, policy=policy
            )
            logger.info("llmrelay uses the %s", database.description)
            yield Services(settings=settings, database=database, actions=actions)
    finally:
        await pool.aclose()

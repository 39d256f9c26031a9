"""Every connector use case, in one place: what the API, the CLI and library users call.

Authorisation will be checked here, once, so no entry point can go around it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from llmrelay.connectors import ConnectorTypeInfo, ConnectorTypeRegistry, JsonObject
from llmrelay.errors import BadRequestError
from llmrelay.eventlog import (
    EventLogQueries,
    ExecutionEvent,
    FindQuery,
    FindResult,
    Source,
    UsageDashboard,
    UsageQueries,
    UsageQuery,
)
from llmrelay.execution import ActionExecutor, ActionResult
from llmrelay.storage import (
    ConnectorRepository,
    PreconfiguredConnector,
    PreconfiguredConnectors,
    StoredConnector,
)
from llmrelay.transport import NetworkPolicy

CONNECTOR_ID = re.compile(r"^[a-z0-9-]+$")
MAX_CONNECTOR_ID_LENGTH = 255


@dataclass(frozen=True)
class Connector:
    """A connector as callers see it: never its secrets."""

    id: str
    name: str
    connector_type_id: str
    config: JsonObject | None
    is_missing_secrets: bool | None
    is_preconfigured: bool = False
    is_deprecated: bool = False
    is_system_action: bool = False

    @classmethod
    def from_stored(cls, stored: StoredConnector) -> Connector:
        return cls(
            id=stored.id,
            name=stored.name,
            connector_type_id=stored.connector_type_id,
            config=dict(stored.config),
            is_missing_secrets=stored.is_missing_secrets,
        )

    @classmethod
    def from_preconfigured(cls, declared: PreconfiguredConnector) -> Connector:
        """Kibana shows no config (unless ``exposeConfig``) and no ``is_missing_secrets``."""
        stored = declared.connector
        return cls(
            id=stored.id,
            name=stored.name,
            connector_type_id=stored.connector_type_id,
            config=dict(stored.config) if declared.expose_config else None,
            is_missing_secrets=None,
            is_preconfigured=True,
        )


class ActionsClient:
    def __init__(
        self,
        *,
        registry: ConnectorTypeRegistry,
        connectors: ConnectorRepository,
        preconfigured: PreconfiguredConnectors,
        executor: ActionExecutor,
        policy: NetworkPolicy,
        events: EventLogQueries,
        usage: UsageQueries,
    ) -> None:
        self._events = events
        self._usage = usage
        self._registry = registry
        self._connectors = connectors
        self._preconfigured = preconfigured
        self._executor = executor
        self._policy = policy

    async def create(
        self,
        *,
        name: str,
        connector_type_id: str,
        config: Mapping[str, object] | None = None,
        secrets: Mapping[str, object] | None = None,
        connector_id: str | None = None,
    ) -> Connector:
        """Validate everything first, so a refused request leaves nothing behind."""
        if connector_id is not None and (
            not CONNECTOR_ID.match(connector_id) or len(connector_id) > MAX_CONNECTOR_ID_LENGTH
        ):
            raise BadRequestError(
                "Connector ID must contain only lowercase letters, numbers, and hyphens."
            )
        if connector_id is not None and connector_id in self._preconfigured:
            raise BadRequestError(f"This {connector_id} already exists in a preconfigured action.")
        connector_type = self._registry.get(connector_type_id)
        self._registry.ensure_enabled(connector_type_id)
        checked_config, checked_secrets = connector_type.validate(
            dict(config or {}), dict(secrets or {}), self._policy
        )
        stored = await self._connectors.create(
            id=connector_id or str(uuid.uuid4()),
            name=name,
            connector_type_id=connector_type_id,
            config=checked_config,
            secrets=checked_secrets,
        )
        return Connector.from_stored(stored)

    async def get(self, connector_id: str) -> Connector:
        declared = self._preconfigured.get(connector_id)
        if declared is not None:
            return Connector.from_preconfigured(declared)
        return Connector.from_stored(await self._connectors.get(connector_id))

    async def get_all(self) -> list[Connector]:
        """Saved and preconfigured connectors together, sorted by name, as Kibana lists them."""
        saved = [Connector.from_stored(s) for s in await self._connectors.list()]
        declared = [Connector.from_preconfigured(d) for d in self._preconfigured.all()]
        return sorted([*saved, *declared], key=lambda c: (c.name, c.id))

    async def update(
        self,
        connector_id: str,
        *,
        name: str,
        config: Mapping[str, object] | None = None,
        secrets: Mapping[str, object] | None = None,
    ) -> Connector:
        """Secrets are replaced wholesale and revalidated, as in Kibana."""
        if connector_id in self._preconfigured:
            raise BadRequestError(f"Preconfigured action {connector_id} can not be updated.")
        existing = await self._connectors.get(connector_id)
        connector_type = self._registry.get(existing.connector_type_id)
        self._registry.ensure_enabled(existing.connector_type_id)
        checked_config, checked_secrets = connector_type.validate(
            dict(config or {}), dict(secrets or {}), self._policy
        )
        stored = await self._connectors.update(
            connector_id, name=name, config=checked_config, secrets=checked_secrets
        )
        return Connector.from_stored(stored)

    async def delete(self, connector_id: str) -> None:
        if connector_id in self._preconfigured:
            raise BadRequestError(f"Preconfigured action {connector_id} is not allowed to delete.")
        await self._connectors.delete(connector_id)

    def list_types(self, feature_id: str | None = None) -> list[tuple[ConnectorTypeInfo, bool]]:
        """Each type with whether ``enabledActionTypes`` enables it."""
        infos = [t.info for t in self._registry.list()]
        if feature_id:
            infos = [i for i in infos if feature_id in i.supported_feature_ids]
        return [(info, self._registry.is_enabled(info.id)) for info in infos]

    async def execute(
        self, connector_id: str, params: Mapping[str, object], *, source: Source = "library"
    ) -> ActionResult:
        """Run a sub-action; an unknown connector raises ``NotFoundError``, all else is a result.

        A streamed result holds an open upstream connection: the caller must iterate or close it.
        ``source`` says who asked (``http_request``, ``cli``, ``library``) in the event log.
        """
        return await self._executor.execute(connector_id, params, source=source)

    async def recent_executions(
        self, connector_id: str | None = None, limit: int = 20
    ) -> list[ExecutionEvent]:
        """Newest first; for one connector (which must exist) or for all."""
        if connector_id is not None:
            await self.get(connector_id)
        return await self._events.recent(connector_id=connector_id, limit=limit)

    async def find_events(self, connector_id: str, query: FindQuery) -> FindResult:
        """Kibana's event-log ``_find`` for one connector (which must exist)."""
        await self.get(connector_id)
        return await self._events.find(connector_id, query)

    async def usage_dashboard(
        self, query: UsageQuery, connector_id: str | None = None
    ) -> UsageDashboard:
        """The token usage dashboard's figures, for one connector (which must exist) or all.

        SECURITY: the privilege check for reading the event log goes here, before any query —
        Kibana's ``read`` (and ``view_index_metadata``) on ``.kibana-event-log-*`` for the calling
        user. Both the JSON API (``/internal/usage...``) and the pages (``/app/...usage``) call
        only this method, so one check covers every dashboard read.
        """
        named = {c.id: c.name for c in await self.get_all()}
        if connector_id is not None and connector_id not in named:
            await self.get(connector_id)  # raises NotFoundError with Kibana's message
        return await self._usage.dashboard(query, connector_id, named)

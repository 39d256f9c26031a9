"""Every connector use case, in one place: what the API, the CLI and library users call.

Authorisation is checked here, once, so no entry point can go around it: every method takes
the :class:`~llmrelay.auth.Principal` asking and checks its privilege *before* looking anything
up, so a 403 never tells whether a connector exists. ``connectors:all`` creates, updates and
deletes; ``connectors:read`` lists, shows and runs; ``event_log:read`` reads executions.
Changes, runs and refusals go to the audit log.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from llmrelay.auth import AuditLog, Principal, Privilege
from llmrelay.connectors import ConnectorTypeInfo, ConnectorTypeRegistry, JsonObject
from llmrelay.errors import BadRequestError, NotFoundError
from llmrelay.eventlog import (
    EventLogQueries,
    ExecutionEvent,
    ExportQuery,
    FindQuery,
    FindResult,
    Source,
    UsageDashboard,
    UsageQueries,
    UsageQuery,
    export_lines,
)
from llmrelay.execution import ActionExecutor, ActionResult
from llmrelay.jsontext import dumps
from llmrelay.storage import (
    ConnectorRepository,
    PreconfiguredConnector,
    PreconfiguredConnectors,
    StoredConnector,
)
from llmrelay.transport import NetworkPolicy

USAGE_PRIVILEGES: tuple[Privilege, ...] = ("event_log:read", "event_log:view_index_metadata")
"""What the token usage dashboard needs: exactly the ``usage_viewer`` role's event-log part."""

CONNECTOR_ID = re.compile(r"^[a-z0-9-]+$")
MAX_CONNECTOR_ID_LENGTH = 255


@dataclass(frozen=True)
class PrincipalEventLogAccess:
    """``getDashboard``'s question, answered from the caller's privileges: whether they may
    open the token usage dashboard (event log ``read`` and ``view_index_metadata``, what the
    ``usage_viewer`` role grants; Kibana asks for ``read`` on the event-log index)."""

    principal: Principal

    async def can_read_event_log(self) -> bool:
        return may_view_usage(self.principal)


def may_view_usage(principal: Principal) -> bool:
    """The token usage dashboard's privileges, asked without raising (links, getDashboard)."""
    return all(principal.has(p) for p in USAGE_PRIVILEGES)


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
        audit: AuditLog,
        usage: UsageQueries,
    ) -> None:
        self._audit = audit
        self._events = events
        self._usage = usage
        self._registry = registry
        self._connectors = connectors
        self._preconfigured = preconfigured
        self._executor = executor
        self._policy = policy

    def _authorize(
        self, principal: Principal, privilege: Privilege, action: str, target: str | None
    ) -> None:
        if privilege not in principal.privileges:
            self._audit.record(
                "access_denied", "failure", principal=principal, target=target, message=action
            )
            principal.require(privilege)

    async def create(
        self,
        *,
        principal: Principal,
        name: str,
        connector_type_id: str,
        config: Mapping[str, object] | None = None,
        secrets: Mapping[str, object] | None = None,
        connector_id: str | None = None,
    ) -> Connector:
        """Validate everything first, so a refused request leaves nothing behind."""
        self._authorize(principal, "connectors:all", "connector_create", connector_id)
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
        self._audit.record(
            "connector_create", "success", principal=principal, target=stored.id, message=name
        )
        return Connector.from_stored(stored)

    async def get(self, connector_id: str, *, principal: Principal) -> Connector:
        self._authorize(principal, "connectors:read", "connector_get", connector_id)
        return await self._get(connector_id)

    async def _get(self, connector_id: str) -> Connector:
        declared = self._preconfigured.get(connector_id)
        if declared is not None:
            return Connector.from_preconfigured(declared)
        return Connector.from_stored(await self._connectors.get(connector_id))

    async def get_all(self, *, principal: Principal) -> list[Connector]:
        """Saved and preconfigured connectors together, sorted by name, as Kibana lists them."""
        self._authorize(principal, "connectors:read", "connector_get_all", None)
        return await self._all()

    async def _all(self) -> list[Connector]:
        saved = [Connector.from_stored(s) for s in await self._connectors.list()]
        declared = [Connector.from_preconfigured(d) for d in self._preconfigured.all()]
        return sorted([*saved, *declared], key=lambda c: (c.name, c.id))

    async def update(
        self,
        connector_id: str,
        *,
        principal: Principal,
        name: str,
        config: Mapping[str, object] | None = None,
        secrets: Mapping[str, object] | None = None,
        keep_secrets_when_empty: bool = False,
    ) -> Connector:
        """Secrets are replaced wholesale and revalidated, as in Kibana; with
        ``keep_secrets_when_empty`` (the web UI's edit form, which never sees them) an update
        that gives no secret at all keeps the stored ones, and only the config is validated."""
        self._authorize(principal, "connectors:all", "connector_update", connector_id)
        if connector_id in self._preconfigured:
            raise BadRequestError(f"Preconfigured action {connector_id} can not be updated.")
        existing = await self._connectors.get(connector_id)
        connector_type = self._registry.get(existing.connector_type_id)
        self._registry.ensure_enabled(existing.connector_type_id)
        keep = keep_secrets_when_empty and not secrets
        if keep:
            checked_config = connector_type.validate_config_worded(dict(config or {}), self._policy)
            checked_secrets = None
        else:
            checked_config, checked_secrets = connector_type.validate(
                dict(config or {}), dict(secrets or {}), self._policy
            )
        stored = await self._connectors.update(
            connector_id,
            name=name,
            config=checked_config,
            secrets=checked_secrets,
            keep_secrets=keep,
        )
        self._audit.record(
            "connector_update", "success", principal=principal, target=connector_id, message=name
        )
        return Connector.from_stored(stored)

    async def delete(self, connector_id: str, *, principal: Principal) -> None:
        self._authorize(principal, "connectors:all", "connector_delete", connector_id)
        if connector_id in self._preconfigured:
            raise BadRequestError(f"Preconfigured action {connector_id} is not allowed to delete.")
        await self._connectors.delete(connector_id)
        self._audit.record("connector_delete", "success", principal=principal, target=connector_id)

    def list_types(
        self, feature_id: str | None = None, *, principal: Principal
    ) -> list[tuple[ConnectorTypeInfo, bool]]:
        """Each type with whether ``enabledActionTypes`` enables it."""
        self._authorize(principal, "connectors:read", "connector_list_types", None)
        infos = [t.info for t in self._registry.list()]
        if feature_id:
            infos = [i for i in infos if feature_id in i.supported_feature_ids]
        return [(info, self._registry.is_enabled(info.id)) for info in infos]

    async def execute(
        self,
        connector_id: str,
        params: Mapping[str, object],
        *,
        principal: Principal,
        source: Source = "library",
    ) -> ActionResult:
        """Run a sub-action; an unknown connector raises ``NotFoundError``, all else is a result.

        A streamed result holds an open upstream connection: the caller must iterate or close it.
        ``source`` says how it was asked (``http_request``, ``cli``, ``library``) and the
        principal's name who, in the event log.
        """
        self._authorize(principal, "connectors:read", "connector_execute", connector_id)
        result = await self._executor.execute(
            connector_id,
            params,
            source=source,
            user_name=principal.name,
            event_log_access=PrincipalEventLogAccess(principal),
        )
        self._audit.record(
            "connector_execute",
            "success" if result.status == "ok" else "failure",
            principal=principal,
            target=connector_id,
            message=str(params.get("subAction", "")),
        )
        return result

    async def recent_executions(
        self, connector_id: str | None = None, limit: int = 20, *, principal: Principal
    ) -> list[ExecutionEvent]:
        """Newest first; for one connector (which must exist) or for all."""
        self._authorize(principal, "event_log:read", "event_log_read", connector_id)
        if connector_id is not None:
            await self._get(connector_id)
        return await self._events.recent(connector_id=connector_id, limit=limit)

    async def find_events(
        self, connector_id: str, query: FindQuery, *, principal: Principal
    ) -> FindResult:
        """Kibana's event-log ``_find`` for one connector (which must exist)."""
        self._authorize(principal, "event_log:read", "event_log_find", connector_id)
        await self._get(connector_id)
        return await self._events.find(connector_id, query)

    # --- the OpenAI-compatible API ---------------------------------------------------------

    async def find(self, reference: str, *, principal: Principal) -> Connector:
        """A connector by id, else by name when exactly one connector has that name."""
        self._authorize(principal, "connectors:read", "connector_get", reference)
        return await self._find(reference)

    async def _find(self, reference: str) -> Connector:
        """``find`` for a caller already authorised.

        Made on every OpenAI-compatible request, so it reads the cached listing of connectors
        (``database.execution_cache_ttl_s``; a miss by id would otherwise be a database read
        each time): another process's change is seen after the TTL, this one's at once.
        """
        declared = self._preconfigured.get(reference)
        if declared is not None:
            return Connector.from_preconfigured(declared)
        saved = await self._connectors.list_cached()
        for stored in saved:
            if stored.id == reference:
                return Connector.from_stored(stored)
        named = [Connector.from_stored(s) for s in saved if s.name == reference]
        named += [
            Connector.from_preconfigured(d)
            for d in self._preconfigured.all()
            if d.connector.name == reference
        ]
        if len(named) > 1:
            raise BadRequestError(
                f"{len(named)} connectors are named [{reference}]: name one by its id"
            )
        if not named:
            raise NotFoundError(f"Saved object [action/{reference}] not found")
        return named[0]

    async def chat_connectors(self, *, principal: Principal) -> list[Connector]:
        """The connectors whose type can serve an OpenAI chat-completions request, by name."""
        connectors = await self.get_all(principal=principal)
        return [c for c in connectors if self._chat_params(c, "{}", False) is not None]

    async def resolve_model(
        self, model: str, *, principal: Principal
    ) -> tuple[Connector, str | None]:
        """The connector an OpenAI ``model`` names, and the model to send upstream, if any.

        ``model`` is a connector id or name, or ``<connector>/<upstream model>`` (tried only
        when the whole text names no connector, so names may contain ``/``). A connector whose
        type cannot serve chat completions is not a model: ``NotFoundError``, like an unknown one.
        """
        self._authorize(principal, "connectors:read", "connector_get", model)
        try:
            connector, upstream_model = await self._find(model), None
        except NotFoundError:
            reference, _, upstream_model = model.partition("/")
            if not upstream_model:
                raise
            connector = await self._find(reference)
        if self._chat_params(connector, "{}", False) is None:
            raise NotFoundError(f"connector [{connector.id}] cannot serve chat completions")
        return connector, upstream_model

    async def chat_completion(
        self,
        model: str,
        body: Mapping[str, object],
        *,
        principal: Principal,
        source: Source = "library",
    ) -> ActionResult:
        """Send an OpenAI chat-completions ``body`` through the connector ``model`` names.

        The body's own ``model`` is replaced by the upstream model ``model`` names, or dropped so
        that the connector's default applies; ``"stream": true`` streams. Raises as
        ``resolve_model`` does; every other failure is a result, as with ``execute``.
        """
        connector, upstream_model = await self.resolve_model(model, principal=principal)
        sent = dict(body)
        if upstream_model:
            sent["model"] = upstream_model
        else:
            sent.pop("model", None)
        text = dumps(sent).decode()
        params = self._chat_params(connector, text, body.get("stream") is True)
        assert params is not None  # resolve_model checked the type
        return await self.execute(connector.id, params, principal=principal, source=source)

    def _chat_params(self, connector: Connector, body: str, stream: bool) -> JsonObject | None:
        if not self._registry.has(connector.connector_type_id):
            return None
        connector_type = self._registry.get(connector.connector_type_id)
        return connector_type.chat_completions_params(body, stream=stream)

    async def export_events(
        self, connector_id: str, query: ExportQuery, *, principal: Principal
    ) -> AsyncIterator[str]:
        """A connector's events as NDJSON or CSV text, oldest first, produced as it is read.

        Everything that can be refused (a bad query, an unknown connector) is refused here,
        before the first line, so that an HTTP caller gets a 4xx and not a broken download.
        """
        self._authorize(principal, "event_log:read", "event_log_export", connector_id)
        query = query.checked()
        await self._get(connector_id)
        events = self._events.every(
            connector_id, start=query.start, end=query.end, outcome=query.outcome
        )
        return export_lines(events, query.format)

    async def usage_dashboard(
        self, query: UsageQuery, connector_id: str | None = None, *, principal: Principal
    ) -> UsageDashboard:
        """The token usage dashboard's figures, for one connector (which must exist) or all.

        Needs what the ``usage_viewer`` role grants: event log ``read`` and
        ``view_index_metadata``, and connectors ``read`` (to name the connectors). Both the JSON
        API (``/internal/usage...``) and the pages (``/app/...usage``) call only this method.
        """
        for privilege in USAGE_PRIVILEGES:
            self._authorize(principal, privilege, "usage_dashboard", connector_id)
        self._authorize(principal, "connectors:read", "usage_dashboard", connector_id)
        named = {c.id: c.name for c in await self._all()}
        if connector_id is not None and connector_id not in named:
            await self._get(connector_id)  # raises NotFoundError with Kibana's message
        return await self._usage.dashboard(query, connector_id, named)

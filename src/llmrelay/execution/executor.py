"""Run a connector: load it, validate params, config and secrets, dispatch, log the event.

The order of checks and their messages are Kibana's ``action_executor.ts`` and sub-action
``executor.ts``, because callers branch on them (``errorSource``, ``retry``). Every execution of
a connector that exists leaves an event, validation failures included (Kibana writes none for
those; seeing why a call failed is the point of the log).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from pydantic import ValidationError

from llmrelay.connectors import (
    EVERYONE_MAY_READ_EVENT_LOG,
    ConnectorContext,
    ConnectorType,
    ConnectorTypeRegistry,
    EventLogAccess,
    ExecutionDetails,
    JsonObject,
    StreamObserver,
)
from llmrelay.connectors.schema import first_error, js_type
from llmrelay.errors import BadRequestError, TransportError, UpstreamError
from llmrelay.eventlog import EventLogWriter, Source
from llmrelay.execution.recording import PendingEstimates, Recorder
from llmrelay.execution.results import ActionResult, ErrorSource, UpstreamFailure
from llmrelay.storage import ConnectorRepository, PreconfiguredConnectors, StoredConnector
from llmrelay.transport import OutboundHttp

MAX_CHECKED_CONNECTORS = 1000


def _params_error(params: Mapping[str, object]) -> str | None:
    sub = params.get("subAction")
    if not isinstance(sub, str):
        got = "undefined" if "subAction" not in params else js_type(sub)
        return f"[subAction]: expected value of type [string] but got [{got}]"
    sub_params = params.get("subActionParams", {})
    if not isinstance(sub_params, Mapping):
        return f"[subActionParams]: expected value of type [object] but got [{js_type(sub_params)}]"
    return None


CANCELLED = "the caller went away before the provider answered"


@dataclass(frozen=True, slots=True)
class _Checked:
    stored: StoredConnector
    raw: Mapping[str, str]
    config: JsonObject
    secrets: Mapping[str, str]


@dataclass
class _Run:
    result: ActionResult
    details: ExecutionDetails = field(default_factory=ExecutionDetails)
    observer: StreamObserver | None = None


class ActionExecutor:
    def __init__(
        self,
        *,
        registry: ConnectorTypeRegistry,
        connectors: ConnectorRepository,
        preconfigured: PreconfiguredConnectors,
        http: OutboundHttp,
        events: EventLogWriter,
        estimates: PendingEstimates,
    ) -> None:
        self._registry = registry
        self._connectors = connectors
        self._preconfigured = preconfigured
        self._http = http
        self._events = events
        self._estimates = estimates
        self._checked: dict[str, _Checked] = {}
        """Validated config and secrets per connector id, for the very objects they came from."""

    async def execute(
        self,
        connector_id: str,
        params: Mapping[str, object],
        *,
        source: Source = "library",
        user_name: str | None = None,
        event_log_access: EventLogAccess = EVERYONE_MAY_READ_EVENT_LOG,
    ) -> ActionResult:
        """Raises ``NotFoundError`` for an unknown connector and ``ForbiddenError`` for a type
        that is not enabled; every other failure is a result (and an event).

        ``event_log_access`` answers whether the caller may read the event log (``getDashboard``);
        ``ActionsClient`` binds it to the caller's privileges."""
        declared = self._preconfigured.get(connector_id)
        secrets: Mapping[str, str]
        if declared is not None:
            stored, secrets = declared.connector, declared.secrets
        else:
            stored, secrets = await self._connectors.load_for_execution(connector_id)
        self._registry.ensure_enabled(stored.connector_type_id)
        if not self._events.enabled:
            return (await self._run(stored, secrets, params, event_log_access)).result
        recorder = Recorder(
            self._events,
            self._estimates,
            stored,
            params.get("subAction"),  # Recorder keeps it only when it is a string
            source=source,
            user_name=user_name,
            started_at=datetime.now(UTC),
            started_ns=time.perf_counter_ns(),
        )
        try:
            run = await self._run(stored, secrets, params, event_log_access)
        except asyncio.CancelledError:  # the caller went away: its start must not stay open
            recorder.abandon(CANCELLED)
            raise
        except Exception as exc:  # a bug: the caller gets a 500, the event log the failure
            recorder.abandon(f"llmrelay failed unexpectedly ({type(exc).__name__})")
            raise
        return recorder.finish(run.result, run.details, run.observer)

    async def _run(
        self,
        stored: StoredConnector,
        secrets: Mapping[str, str],
        params: Mapping[str, object],
        event_log_access: EventLogAccess,
    ) -> _Run:
        connector_id = stored.id
        problem = _params_error(params)
        if problem:
            message = f"error validating action params: {problem}"
            return _Run(ActionResult.invalid(connector_id, message, "user"))
        connector_type = self._registry.get(stored.connector_type_id)
        try:
            checked = self._checked_connector(connector_type, stored, secrets)
        except BadRequestError as exc:
            return _Run(ActionResult.invalid(connector_id, exc.message, "framework"))
        context = ConnectorContext(
            connector_id=connector_id,
            connector_name=stored.name,
            config=checked.config,
            secrets=checked.secrets,
            http=self._http,
            event_log_access=event_log_access,
        )
        return await self._dispatch(connector_type, context, params)

    def _checked_connector(
        self, connector_type: ConnectorType, stored: StoredConnector, secrets: Mapping[str, str]
    ) -> _Checked:
        """The stored config (against the network policy) and secrets, validated once per read.

        Validating them cost about 8% of an execution. The policy is fixed for the life of the
        process, and storage hands out new objects whenever it reads the row again (after a
        change, or when its short cache expires), so they are validated again then. A
        connector that fails validation is checked again at every execution, and fails again.
        """
        remembered = self._checked.get(stored.id)
        if remembered is not None and remembered.stored is stored and remembered.raw is secrets:
            return remembered
        config = connector_type.validate_config_worded(stored.config, self._http.policy)
        checked_secrets = MappingProxyType(connector_type.validate_secrets_worded(dict(secrets)))
        checked = _Checked(stored, secrets, config, checked_secrets)
        if len(self._checked) >= MAX_CHECKED_CONNECTORS:
            self._checked.clear()
        self._checked[stored.id] = checked
        return checked

    async def _dispatch(
        self, connector_type: ConnectorType, context: ConnectorContext, params: Mapping[str, object]
    ) -> _Run:
        connector_id = context.connector_id
        name = str(params["subAction"])
        sub = connector_type.sub_actions().get(name)
        if sub is None:
            info = connector_type.info
            return _Run(
                ActionResult.failed(
                    connector_id,
                    f'Sub action "{name}" is not registered. Connector id: {connector_id}. '
                    f"Connector name: {info.name}. Connector type: {info.id}",
                    "framework",
                )
            )
        try:
            sub_params = sub.params.model_validate(params.get("subActionParams") or {})
        except ValidationError as exc:
            detail = first_error(sub.params, exc)
            message = f"Request validation failed (Error: {detail})"
            return _Run(ActionResult.failed(connector_id, message, "user"))
        service = connector_type.create_service(context)
        try:
            data = await service.call(sub, sub_params)
        except BadRequestError as exc:  # params the type could not send (e.g. not Unicode)
            details = connector_type.details(context.config, name, sub_params, None)
            return _Run(ActionResult.failed(connector_id, exc.message, "user"), details)
        except (UpstreamError, TransportError) as exc:
            source: ErrorSource = (
                "user" if isinstance(exc, UpstreamError) and exc.user_caused else "framework"
            )
            retry_after = exc.retry_after_s if isinstance(exc, UpstreamError) else None
            details = connector_type.details(context.config, name, sub_params, None)
            failure = ActionResult.failed(
                connector_id, exc.message, source, retry_after, UpstreamFailure.of(exc)
            )
            return _Run(failure, details)
        result = ActionResult.ok(connector_id, data)
        if result.stream is not None:
            observer = connector_type.stream_observer(context.config, name, sub_params)
            details = connector_type.details(context.config, name, sub_params, None)
            return _Run(result, details, observer)
        return _Run(result, connector_type.details(context.config, name, sub_params, result.data))

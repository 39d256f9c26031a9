"""Run a connector: load it, validate params, config and secrets, dispatch the sub-action.

The order of checks and their messages are Kibana's ``action_executor.ts`` and sub-action
``executor.ts``, because callers branch on them (``errorSource``, ``retry``).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from llmrelay.connectors import ConnectorContext, ConnectorType, ConnectorTypeRegistry
from llmrelay.connectors.schema import first_error, js_type
from llmrelay.errors import BadRequestError, TransportError, UpstreamError
from llmrelay.execution.results import ActionResult, ErrorSource
from llmrelay.storage import ConnectorRepository, PreconfiguredConnectors, StoredConnector
from llmrelay.transport import OutboundHttp


def _params_error(params: Mapping[str, object]) -> str | None:
    sub = params.get("subAction")
    if not isinstance(sub, str):
        got = "undefined" if "subAction" not in params else js_type(sub)
        return f"[subAction]: expected value of type [string] but got [{got}]"
    sub_params = params.get("subActionParams", {})
    if not isinstance(sub_params, Mapping):
        return f"[subActionParams]: expected value of type [object] but got [{js_type(sub_params)}]"
    return None


class ActionExecutor:
    def __init__(
        self,
        *,
        registry: ConnectorTypeRegistry,
        connectors: ConnectorRepository,
        preconfigured: PreconfiguredConnectors,
        http: OutboundHttp,
    ) -> None:
        self._registry = registry
        self._connectors = connectors
        self._preconfigured = preconfigured
        self._http = http

    async def execute(self, connector_id: str, params: Mapping[str, object]) -> ActionResult:
        """Raises ``NotFoundError`` for an unknown connector and ``ForbiddenError`` for a type
        that is not enabled; every other failure is a result."""
        declared = self._preconfigured.get(connector_id)
        if declared is not None:
            return await self.execute_loaded(declared.connector, declared.secrets, params)
        stored, secrets = await self._connectors.load_for_execution(connector_id)
        return await self.execute_loaded(stored, secrets, params)

    async def execute_loaded(
        self, stored: StoredConnector, secrets: Mapping[str, str], params: Mapping[str, object]
    ) -> ActionResult:
        connector_id = stored.id
        problem = _params_error(params)
        if problem:
            return ActionResult.invalid(
                connector_id, f"error validating action params: {problem}", "user"
            )
        self._registry.ensure_enabled(stored.connector_type_id)
        connector_type = self._registry.get(stored.connector_type_id)
        try:
            config, checked_secrets = connector_type.validate(
                stored.config, dict(secrets), self._http.policy
            )
        except BadRequestError as exc:
            return ActionResult.invalid(connector_id, exc.message, "framework")
        context = ConnectorContext(
            connector_id=connector_id,
            connector_name=stored.name,
            config=config,
            secrets=checked_secrets,
            http=self._http,
        )
        return await self._dispatch(connector_type, context, params)

    async def _dispatch(
        self, connector_type: ConnectorType, context: ConnectorContext, params: Mapping[str, object]
    ) -> ActionResult:
        connector_id = context.connector_id
        name = str(params["subAction"])
        sub = connector_type.sub_actions().get(name)
        if sub is None:
            info = connector_type.info
            return ActionResult.failed(
                connector_id,
                f'Sub action "{name}" is not registered. Connector id: {connector_id}. '
                f"Connector name: {info.name}. Connector type: {info.id}",
                "framework",
            )
        try:
            sub_params = sub.params.model_validate(params.get("subActionParams") or {})
        except ValidationError as exc:
            detail = first_error(sub.params, exc)
            return ActionResult.failed(
                connector_id, f"Request validation failed (Error: {detail})", "user"
            )
        service = connector_type.create_service(context)
        try:
            data = await service.call(sub, sub_params)
        except UpstreamError as exc:
            source: ErrorSource = "user" if exc.user_caused else "framework"
            return ActionResult.failed(connector_id, exc.message, source, exc.retry_after_s)
        except TransportError as exc:
            return ActionResult.failed(connector_id, exc.message, "framework")
        return ActionResult.ok(connector_id, data)

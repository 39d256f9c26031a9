"""What a connector type is: its schemas, validators and sub-actions.

A type receives validated config and secrets, an HTTP handle bound to the network policy, and
returns JSON data or a byte stream. It never touches storage, the event log, settings or the
incoming request (DESIGN.md rule 3), which keeps every type testable on its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel

from llmrelay.connectors.form import ConnectorForm
from llmrelay.connectors.usage import ExecutionDetails, StreamObserver
from llmrelay.errors import BadRequestError
from llmrelay.transport import NetworkPolicy, OutboundHttp

JsonObject = dict[str, object]


@dataclass
class ByteStream:
    """A sub-action result that is relayed byte for byte (Server-Sent Events from a provider).

    ``aclose`` releases the upstream connection; callers must call it even when they stop early,
    which is how a client disconnect cancels the upstream request.
    """

    chunks: AsyncIterator[bytes]
    aclose: Callable[[], Awaitable[None]]
    media_type: str = "text/event-stream"
    details: Callable[[], ExecutionDetails] | None = None
    """What the type learned from the stream so far, including anything it kept from the
    caller (a usage chunk it asked for); when set, the recorder uses it and no observer."""


SubActionResult = JsonObject | ByteStream


class EventLogAccess(Protocol):
    """Whether the caller of one execution may read the event log (its token usage).

    Kibana's ``getDashboard`` asks Elasticsearch, as the calling user, for ``read`` on the
    event-log indices. A connector type asks this instead: it is bound to the caller by the
    executor, so the type never sees the request, the user or the privileges store.
    """

    async def can_read_event_log(self) -> bool: ...


class EveryoneMayReadEventLog:
    """The answer until there are users and roles: every caller may."""

    async def can_read_event_log(self) -> bool:
        return True


EVERYONE_MAY_READ_EVENT_LOG = EveryoneMayReadEventLog()


@dataclass(frozen=True)
class ConnectorContext:
    connector_id: str
    connector_name: str
    config: Mapping[str, object]
    secrets: Mapping[str, str]
    http: OutboundHttp
    event_log_access: EventLogAccess = EVERYONE_MAY_READ_EVENT_LOG


@dataclass(frozen=True)
class SubAction:
    name: str
    params: type[BaseModel]
    method_name: str


_MethodT = TypeVar("_MethodT", bound=Callable[..., Awaitable[SubActionResult]])


def sub_action(name: str, params: type[BaseModel]) -> Callable[[_MethodT], _MethodT]:
    """Register a service method as a sub-action, with the model that validates its params."""

    def mark(method: _MethodT) -> _MethodT:
        method.__sub_action__ = SubAction(name, params, method.__name__)  # type: ignore[attr-defined]
        return method

    return mark


class SubActionService:
    """One execution's worth of a connector: built per run from its context."""

    sub_actions: ClassVar[dict[str, SubAction]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = dict(getattr(cls, "sub_actions", {}))
        for attribute in vars(cls).values():
            marker = getattr(attribute, "__sub_action__", None)
            if isinstance(marker, SubAction):
                found[marker.name] = marker
        cls.sub_actions = found

    def __init__(self, context: ConnectorContext) -> None:
        self.context = context

    async def call(self, sub: SubAction, params: BaseModel) -> SubActionResult:
        method: Callable[[BaseModel], Awaitable[SubActionResult]] = getattr(self, sub.method_name)
        return await method(params)


@dataclass(frozen=True)
class ConnectorTypeInfo:
    id: str
    name: str
    minimum_license_required: str
    supported_feature_ids: tuple[str, ...]
    is_system_action_type: bool = False
    is_deprecated: bool = False
    extra: Mapping[str, object] = field(default_factory=dict)
    form: ConnectorForm | None = None
    """What the web UI's create/edit form shows for this type; None: no form."""


class ConnectorType(ABC):
    """A kind of connector (``.gen-ai``); registered once in ``services.py``."""

    info: ClassVar[ConnectorTypeInfo]
    service_class: ClassVar[type[SubActionService]]

    @abstractmethod
    def validate_config(self, config: object, policy: NetworkPolicy) -> JsonObject:
        """Return the config to store (defaults applied) or raise ``BadRequestError(detail)``."""

    @abstractmethod
    def validate_secrets(self, secrets: object) -> dict[str, str]:
        """Return the secrets to store or raise ``BadRequestError(detail)``."""

    def validate(
        self, config: object, secrets: object, policy: NetworkPolicy
    ) -> tuple[JsonObject, dict[str, str]]:
        """Both checks, failing with Kibana's ``error validating action type ...`` wording.

        Used on create and update, and again before every execution (the allowed hosts may
        have changed since the connector was saved; the executor remembers a stored config it
        validated, see ``ActionExecutor``).
        """
        return self.validate_config_worded(config, policy), self.validate_secrets_worded(secrets)

    def validate_config_worded(self, config: object, policy: NetworkPolicy) -> JsonObject:
        """``validate_config`` with the message of :meth:`validate`."""
        try:
            return self.validate_config(config, policy)
        except BadRequestError as exc:
            raise BadRequestError(f"error validating action type config: {exc.message}") from None

    def validate_secrets_worded(self, secrets: object) -> dict[str, str]:
        """``validate_secrets`` with the message of :meth:`validate`."""
        try:
            return self.validate_secrets(secrets)
        except BadRequestError as exc:
            raise BadRequestError(f"error validating action type secrets: {exc.message}") from None

    def sub_actions(self) -> Mapping[str, SubAction]:
        return self.service_class.sub_actions

    def details(
        self,
        config: Mapping[str, object],
        sub_action: str,
        params: BaseModel,
        data: JsonObject | None,
    ) -> ExecutionDetails:
        """Provider, model and usage of a finished (non-streamed) run; empty by default."""
        return ExecutionDetails()

    def stream_observer(
        self, config: Mapping[str, object], sub_action: str, params: BaseModel
    ) -> StreamObserver | None:
        """Something that learns usage from a relayed stream; None when the type has nothing."""
        return None

    def chat_completions_params(self, body: str, *, stream: bool) -> JsonObject | None:
        """The execute params (``subAction`` and ``subActionParams``) that send an OpenAI
        chat-completions request ``body`` (JSON text) through this type, or None when the type
        cannot serve one. The OpenAI-compatible API lists and runs only types that can."""
        return None

    def create_service(self, context: ConnectorContext) -> SubActionService:
        return self.service_class(context)

"""The connector types this process knows, looked up by id."""

from __future__ import annotations

from llmrelay.connectors.connector_type import ConnectorType
from llmrelay.errors import BadRequestError, ForbiddenError


class ConnectorTypeRegistry:
    """``enabled`` is Kibana's ``xpack.actions.enabledActionTypes`` (``*`` enables all)."""

    def __init__(self, enabled: tuple[str, ...] = ("*",)) -> None:
        self._types: dict[str, ConnectorType] = {}
        self._enabled = frozenset(enabled)

    def is_enabled(self, type_id: str) -> bool:
        return "*" in self._enabled or type_id in self._enabled

    def ensure_enabled(self, type_id: str) -> None:
        if not self.is_enabled(type_id):
            raise ForbiddenError(
                f'action type "{type_id}" is not enabled in the Kibana config '
                "xpack.actions.enabledActionTypes"
            )

    def register(self, connector_type: ConnectorType) -> None:
        type_id = connector_type.info.id
        if type_id in self._types:
            raise ValueError(f'Action type "{type_id}" is already registered.')
        self._types[type_id] = connector_type

    def get(self, type_id: str) -> ConnectorType:
        try:
            return self._types[type_id]
        except KeyError:
            raise BadRequestError(f'Action type "{type_id}" is not registered.') from None

    def has(self, type_id: str) -> bool:
        return type_id in self._types

    def list(self) -> list[ConnectorType]:
        return list(self._types.values())

"""The connector types this process knows, looked up by id."""

from __future__ import annotations

from llmrelay.connectors.connector_type import ConnectorType
from llmrelay.errors import BadRequestError


class ConnectorTypeRegistry:
    def __init__(self) -> None:
        self._types: dict[str, ConnectorType] = {}

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

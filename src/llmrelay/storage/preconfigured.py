"""Preconfigured connectors: declared in the config file, held in memory, never written.

Kibana keeps them in an in-memory list read at boot (``xpack.actions.preconfigured``); they can
be run like saved connectors but not changed through the API. Their secrets come from the config
file (usually via ``${ENV}``), so they are not encrypted at rest here: nothing is at rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from llmrelay.storage.connectors import StoredConnector


@dataclass(frozen=True, slots=True)
class PreconfiguredConnector:
    connector: StoredConnector
    secrets: dict[str, str]
    expose_config: bool = False

    def __repr__(self) -> str:  # never print secrets, even in a debugger or a log line
        return f"PreconfiguredConnector(id={self.connector.id!r}, name={self.connector.name!r})"


def preconfigured_connector(
    connector_id: str,
    *,
    name: str,
    connector_type_id: str,
    config: dict[str, object],
    secrets: dict[str, str],
    expose_config: bool = False,
) -> PreconfiguredConnector:
    loaded_at = datetime.now(UTC)
    stored = StoredConnector(
        id=connector_id,
        name=name,
        connector_type_id=connector_type_id,
        config=config,
        is_missing_secrets=False,
        created_at=loaded_at,
        updated_at=loaded_at,
    )
    return PreconfiguredConnector(stored, secrets, expose_config)


class PreconfiguredConnectors:
    def __init__(self, connectors: Iterable[PreconfiguredConnector] = ()) -> None:
        self._by_id = {c.connector.id: c for c in connectors}

    def __contains__(self, connector_id: object) -> bool:
        return connector_id in self._by_id

    def get(self, connector_id: str) -> PreconfiguredConnector | None:
        return self._by_id.get(connector_id)

    def all(self) -> list[PreconfiguredConnector]:
        return list(self._by_id.values())

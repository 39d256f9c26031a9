"""Storage: the database, its migrations, and connectors with their secrets encrypted at rest.

Everything else in llmrelay reaches the database through these names; SQLAlchemy and its
exceptions do not leak past this package (failures surface as ``llmrelay.errors`` exceptions).
"""

from __future__ import annotations

from llmrelay.storage.connectors import ConnectorRepository, StoredConnector
from llmrelay.storage.crypto import SecretsCipher, key_id
from llmrelay.storage.db import Database, describe_url, head_revision, normalise_url
from llmrelay.storage.events import EventFilter, EventStore
from llmrelay.storage.ids import time_ordered_id
from llmrelay.storage.keys import key_file_path, load_or_create_key
from llmrelay.storage.preconfigured import (
    PreconfiguredConnector,
    PreconfiguredConnectors,
    preconfigured_connector,
)
from llmrelay.storage.prepared import storable_text
from llmrelay.storage.rollups import (
    LATENCY_RELATIVE_ERROR,
    START_ACTION,
    Counts,
    Summary,
    UsageStore,
    bin_midpoint_ns,
    delete_rollups_before,
)
from llmrelay.storage.security import (
    AuditFilter,
    SecurityStore,
    StoredApiKey,
    StoredSession,
    StoredUser,
    new_user_id,
)

__all__ = [
    "LATENCY_RELATIVE_ERROR",
    "START_ACTION",
    "AuditFilter",
    "ConnectorRepository",
    "Counts",
    "Database",
    "EventFilter",
    "EventStore",
    "PreconfiguredConnector",
    "PreconfiguredConnectors",
    "SecretsCipher",
    "SecurityStore",
    "StoredApiKey",
    "StoredConnector",
    "StoredSession",
    "StoredUser",
    "Summary",
    "UsageStore",
    "bin_midpoint_ns",
    "delete_rollups_before",
    "describe_url",
    "head_revision",
    "key_file_path",
    "key_id",
    "load_or_create_key",
    "new_user_id",
    "normalise_url",
    "preconfigured_connector",
    "storable_text",
    "time_ordered_id",
]

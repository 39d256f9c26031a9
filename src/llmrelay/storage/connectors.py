"""The connector repository: saved connectors in, saved connectors out, secrets sealed.

This is the storage side of Kibana's ``action`` saved object. Config and secrets are kept apart
as Kibana keeps them: :class:`StoredConnector` has no secrets field, so nothing that lists or
shows connectors can leak them by accident, and decrypted secrets leave storage only through
:meth:`ConnectorRepository.load_for_execution`, which only ``execution/`` calls.

Errors carry Kibana's saved-object wording (``Saved object [action/<id>] not found``), because the
API returns these messages as they are.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from types import MappingProxyType

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from llmrelay.errors import BadRequestError, ConflictError, NotFoundError
from llmrelay.storage.crypto import SecretsCipher
from llmrelay.storage.db import Database
from llmrelay.storage.tables import CONNECTOR_ID_MAX_LENGTH, connectors


@dataclass(frozen=True, slots=True)
class StoredConnector:
    """A saved connector as storage knows it; deliberately without its secrets.

    ``is_missing_secrets`` is true when the connector was saved with no secrets at all
    (``secrets=None``); an empty mapping counts as secrets given, as in Kibana, where a type
    without secret fields still saves ``{}``.
    """

    id: str
    name: str
    connector_type_id: str
    config: dict[str, object]
    is_missing_secrets: bool
    created_at: datetime
    updated_at: datetime


_PUBLIC_COLUMNS = (
    connectors.c.id,
    connectors.c.name,
    connectors.c.connector_type_id,
    connectors.c.config,
    connectors.c.secrets.is_(None).label("is_missing_secrets"),
    connectors.c.created_at,
    connectors.c.updated_at,
)
"""What is read for a :class:`StoredConnector`: the ciphertext itself never leaves the query."""


_EXECUTION_COLUMNS = (*_PUBLIC_COLUMNS, connectors.c.secrets)
MAX_CACHED_CONNECTORS = 10_000


@dataclass(frozen=True, slots=True)
class _CachedRow:
    loaded_at: float
    connector: StoredConnector
    secrets: Mapping[str, str]


class ConnectorRepository:
    """Create, read, update and delete connectors in one database, encrypting their secrets.

    Executions read through a small cache (``execution_cache_ttl_s``; 0 turns it off): each
    SQLite read costs about a millisecond of thread hops, the whole latency budget of a relayed
    call. Writes through this repository drop the entry at once; a write made by another process
    (a second instance, the CLI) is seen after at most the TTL. The cache holds the secrets
    decrypted (in this process's memory only, for at most the TTL, and only
    ``load_for_execution`` hands them out), so an execution does not pay for decrypting them.
    """

    def __init__(
        self, db: Database, cipher: SecretsCipher, *, execution_cache_ttl_s: float = 0.0
    ) -> None:
        self._db = db
        self._cipher = cipher
        self._cache_ttl_s = execution_cache_ttl_s
        self._cache: dict[str, _CachedRow] = {}
        self._loading: dict[str, asyncio.Future[_CachedRow]] = {}
        """Reads in flight: concurrent executions of one connector share the read."""
        self._generation = 0
        """Bumped by every write: a read that began before it is not cached."""
        self._listing: tuple[float, tuple[StoredConnector, ...]] | None = None

    def _forget(self, id: str) -> None:
        """Drop what is known of ``id`` (and the listing); called before and after a write, so
        a read racing the write cannot leave the old row cached."""
        self._generation += 1
        self._cache.pop(id, None)
        self._loading.pop(id, None)
        self._listing = None

    async def create(
        self,
        *,
        id: str,
        name: str,
        connector_type_id: str,
        config: Mapping[str, object],
        secrets: Mapping[str, str] | None,
    ) -> StoredConnector:
        """Save a new connector; an existing ``id`` raises ``ConflictError`` (Kibana's message).

        The id is the caller's to choose (Kibana generates a UUID, or takes one from the URL).
        """
        if not id or len(id) > CONNECTOR_ID_MAX_LENGTH:
            raise BadRequestError(
                f"a connector id must be 1 to {CONNECTOR_ID_MAX_LENGTH} characters long"
            )
        now = datetime.now(UTC)
        config_text = _dump_config(config)
        statement = insert(connectors).values(
            id=id,
            name=name,
            connector_type_id=connector_type_id,
            config=config_text,
            secrets=self._seal(id, secrets),
            created_at=now,
            updated_at=now,
        )
        self._listing = None
        try:
            async with self._db.begin() as connection:
                await connection.execute(statement)
        except IntegrityError:
            raise ConflictError(f"Saved object [action/{id}] conflict") from None
        return StoredConnector(
            id=id,
            name=name,
            connector_type_id=connector_type_id,
            config=_load_config(config_text),
            is_missing_secrets=secrets is None,
            created_at=now,
            updated_at=now,
        )

    async def get(self, id: str) -> StoredConnector:
        async with self._db.connect() as connection:
            result = await connection.execute(select(*_PUBLIC_COLUMNS).where(connectors.c.id == id))
            row = result.one_or_none()
        if row is None:
            raise _not_found(id)
        return _to_connector(row)

    async def list(self) -> list[StoredConnector]:
        """Every connector, ordered by name, then id.

        Sorted here rather than with ``ORDER BY``: PostgreSQL collates by locale and SQLite by
        code point, and the order must not depend on the backend.
        """
        async with self._db.connect() as connection:
            result = await connection.execute(select(*_PUBLIC_COLUMNS))
            rows = result.all()
        return sorted((_to_connector(row) for row in rows), key=lambda c: (c.name, c.id))

    async def update(
        self,
        id: str,
        *,
        name: str,
        config: Mapping[str, object],
        secrets: Mapping[str, str] | None,
        keep_secrets: bool = False,
    ) -> StoredConnector:
        """Replace name, config and secrets wholesale, as Kibana's update does.

        Secrets are replaced too: ``None`` clears them (``is_missing_secrets`` becomes true),
        unless ``keep_secrets``, which leaves the stored ones as they are (they never leave
        storage for it). The type and creation time are kept. One statement, so a concurrent
        delete cannot interleave.
        """
        config_text = _dump_config(config)
        values: dict[str, object] = {
            "name": name,
            "config": config_text,
            "updated_at": datetime.now(UTC),
        }
        if not keep_secrets:
            values["secrets"] = self._seal(id, secrets)
        statement = (
            update(connectors)
            .where(connectors.c.id == id)
            .values(**values)
            # Only plain columns: SQLite 3.40 evaluates "secrets IS NULL" in RETURNING against
            # the old row, so is_missing_secrets is taken from the value just written (or, when
            # kept, from the old row, which is then right).
            .returning(
                connectors.c.connector_type_id,
                connectors.c.created_at,
                connectors.c.updated_at,
                connectors.c.secrets.is_(None).label("secrets_missing"),
            )
        )
        self._forget(id)
        try:
            async with self._db.begin() as connection:
                row = (await connection.execute(statement)).one_or_none()
        finally:
            self._forget(id)
        if row is None:
            raise _not_found(id)
        return StoredConnector(
            id=id,
            name=name,
            connector_type_id=row.connector_type_id,
            config=_load_config(config_text),
            is_missing_secrets=bool(row.secrets_missing) if keep_secrets else secrets is None,
            created_at=_timestamp(row.created_at),
            updated_at=_timestamp(row.updated_at),
        )

    async def delete(self, id: str) -> None:
        self._forget(id)
        try:
            async with self._db.begin() as connection:
                result = await connection.execute(delete(connectors).where(connectors.c.id == id))
        finally:
            self._forget(id)
        if result.rowcount == 0:
            raise _not_found(id)

    async def load_for_execution(self, id: str) -> tuple[StoredConnector, Mapping[str, str]]:
        """A connector with its decrypted secrets (empty if saved without any), in one read.

        This is the one way decrypted secrets leave storage, and only ``execution/`` may call
        it (just before running the connector). Both objects are the same ones for every call
        until the row is read again (a change, or the cache's TTL), so a caller may remember
        what it derived from them by identity; the secrets mapping is read-only. Raises
        ``NotFoundError`` for an unknown id and ``SecretsError`` when the stored value cannot be
        decrypted with the configured keys.
        """
        cached = self._cache.get(id)
        if cached is None or time.monotonic() - cached.loaded_at > self._cache_ttl_s:
            cached = await self._read_shared(id)
        return cached.connector, cached.secrets

    async def _read_shared(self, id: str) -> _CachedRow:
        """Read ``id``'s row, joining a read of it already in flight.

        When the cache entry of a busy connector expires, every execution arriving before the
        read returns would otherwise read it too (64 at once under ``bench/overhead.py``'s load,
        each waiting for a pooled connection). The shared read is shielded: one caller giving up
        does not cancel it for the others.
        """
        pending = self._loading.get(id)
        if pending is None:
            pending = asyncio.ensure_future(self._read(id, self._generation))
            self._loading[id] = pending
            pending.add_done_callback(partial(self._read_done, id))
        return await asyncio.shield(pending)

    def _read_done(self, id: str, read: asyncio.Future[_CachedRow]) -> None:
        if self._loading.get(id) is read:
            del self._loading[id]
        if not read.cancelled():
            read.exception()  # retrieved here too, in case every caller gave up

    async def _read(self, id: str, generation: int) -> _CachedRow:
        async with self._db.connect() as connection:
            result = await connection.execute(
                select(*_EXECUTION_COLUMNS).where(connectors.c.id == id)
            )
            row = result.one_or_none()
        if row is None:
            self._cache.pop(id, None)
            raise _not_found(id)
        secrets = {} if row.secrets is None else self._cipher.decrypt_json(id, row.secrets)
        cached = _CachedRow(time.monotonic(), _to_connector(row), MappingProxyType(secrets))
        if self._cache_ttl_s > 0 and generation == self._generation:
            if len(self._cache) >= MAX_CACHED_CONNECTORS:
                self._cache.clear()
            self._cache[id] = cached
        return cached

    async def list_cached(self) -> tuple[StoredConnector, ...]:
        """``list``, reused for up to the cache TTL; any write through this repository drops it."""
        listing = self._listing
        if listing is None or time.monotonic() - listing[0] > self._cache_ttl_s:
            listing = (time.monotonic(), tuple(await self.list()))
            if self._cache_ttl_s > 0:
                self._listing = listing
        return listing[1]

    def _seal(self, id: str, secrets: Mapping[str, str] | None) -> str | None:
        if secrets is None:
            return None
        return self._cipher.encrypt_json(id, secrets)


def _not_found(id: str) -> NotFoundError:
    return NotFoundError(f"Saved object [action/{id}] not found")


def _dump_config(config: Mapping[str, object]) -> str:
    """Serialise config, keeping key order (the API echoes config back as it was saved)."""
    try:
        return json.dumps(dict(config), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise BadRequestError(f"the connector config is not valid JSON: {exc}") from None


def _load_config(text: str) -> dict[str, object]:
    value = json.loads(text)
    if not isinstance(value, dict):  # pragma: no cover - only _dump_config writes this column
        raise TypeError("stored connector config is not a JSON object")
    return value


def _to_connector(row: Row[tuple[object, ...]]) -> StoredConnector:
    mapping = row._mapping
    return StoredConnector(
        id=str(mapping["id"]),
        name=str(mapping["name"]),
        connector_type_id=str(mapping["connector_type_id"]),
        config=_load_config(str(mapping["config"])),
        is_missing_secrets=bool(mapping["is_missing_secrets"]),
        created_at=_timestamp(mapping["created_at"]),
        updated_at=_timestamp(mapping["updated_at"]),
    )


def _timestamp(value: object) -> datetime:
    if not isinstance(value, datetime):  # pragma: no cover - UtcDateTime always returns one
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    return value

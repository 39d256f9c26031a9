"""The security tables: users, custom roles, API keys, UI sessions, audit events.

Only hashes are stored: argon2id for passwords, SHA-256 for API-key secrets and session ids.
``llmrelay.auth`` owns what the rows mean; this module only reads and writes them, and turns
"already exists" into a return value rather than a SQLAlchemy exception.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from llmrelay.storage.db import Database
from llmrelay.storage.prepared import PreparedStatement
from llmrelay.storage.tables import api_keys, audit_events, roles, sessions, users

MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class StoredUser:
    username: str
    password_hash: str
    roles: tuple[str, ...]
    full_name: str | None
    email: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime
    id: str
    """Immutable and never reused (:func:`new_user_id`): what keys and sessions refer to."""


def new_user_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class StoredApiKey:
    id: str
    name: str
    owner: str
    secret_hash: str
    role_descriptors: dict[str, Any] | None
    created_at: datetime
    expires_at: datetime | None
    invalidated_at: datetime | None
    owner_id: str | None
    """The owner's user id; ``None`` for a key whose owner was gone when ids were introduced
    (it never authenticates)."""


@dataclass(frozen=True, slots=True)
class StoredSession:
    id_digest: str
    username: str
    created_at: datetime
    last_seen_at: datetime
    user_id: str


@dataclass(frozen=True)
class AuditFilter:
    start: datetime | None = None
    end: datetime | None = None
    action: str | None = None
    user_name: str | None = None
    outcome: str | None = None


def _user(row: Mapping[Any, Any]) -> StoredUser:
    return StoredUser(**{**row, "roles": tuple(json.loads(row["roles"]))})


def _api_key(row: Mapping[Any, Any]) -> StoredApiKey:
    descriptors = row["role_descriptors"]
    return StoredApiKey(
        **{**row, "role_descriptors": json.loads(descriptors) if descriptors else None}
    )


class SecurityStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._audit_insert: PreparedStatement | None = None

    # users

    async def count_users(self) -> int:
        async with self._db.connect() as connection:
            result = await connection.execute(select(func.count()).select_from(users))
            return int(result.scalar_one())

    async def get_user_by_id(self, user_id: str) -> StoredUser | None:
        async with self._db.connect() as connection:
            row = (await connection.execute(select(users).where(users.c.id == user_id))).first()
        return _user(row._mapping) if row is not None else None

    async def get_user(self, username: str) -> StoredUser | None:
        async with self._db.connect() as connection:
            row = (
                await connection.execute(select(users).where(users.c.username == username))
            ).first()
        return _user(row._mapping) if row is not None else None

    async def list_users(self) -> list[StoredUser]:
        async with self._db.connect() as connection:
            result = await connection.execute(select(users).order_by(users.c.username))
            return [_user(row._mapping) for row in result]

    async def create_user(self, user: StoredUser) -> bool:
        """False when the username is taken (by us or a concurrent instance)."""
        values = {
            "id": user.id,
            "username": user.username,
            "password_hash": user.password_hash,
            "roles": json.dumps(list(user.roles)),
            "full_name": user.full_name,
            "email": user.email,
            "enabled": user.enabled,
            "created_at": user.created_at,
            "updated_at": user.updated_at,
        }
        try:
            async with self._db.begin() as connection:
                await connection.execute(insert(users).values(**values))
        except IntegrityError:
            return False
        return True

    async def update_user(self, username: str, **changes: object) -> bool:
        if "roles" in changes:
            changes["roles"] = json.dumps(list(changes["roles"]))  # type: ignore[call-overload]
        async with self._db.begin() as connection:
            result = await connection.execute(
                update(users).where(users.c.username == username).values(**changes)
            )
            return bool(result.rowcount)

    async def delete_user(self, username: str, now: datetime) -> bool:
        """Deletes the user and their sessions and invalidates their keys, in one transaction.

        Keys would fail anyway (they name their owner by id, and the id is gone for good), but
        marking them invalidated makes that visible in the key list."""
        async with self._db.begin() as connection:
            user_id = (
                await connection.execute(select(users.c.id).where(users.c.username == username))
            ).scalar_one_or_none()
            if user_id is None:
                return False
            await connection.execute(delete(sessions).where(sessions.c.user_id == user_id))
            await connection.execute(
                update(api_keys)
                .where(api_keys.c.owner_id == user_id, api_keys.c.invalidated_at.is_(None))
                .values(invalidated_at=now)
            )
            await connection.execute(delete(users).where(users.c.id == user_id))
            return True

    # roles

    async def get_role(self, name: str) -> dict[str, Any] | None:
        async with self._db.connect() as connection:
            row = (await connection.execute(select(roles).where(roles.c.name == name))).first()
        return dict(json.loads(row.definition)) if row is not None else None

    async def list_roles(self) -> dict[str, dict[str, Any]]:
        async with self._db.connect() as connection:
            result = await connection.execute(select(roles).order_by(roles.c.name))
            return {row.name: json.loads(row.definition) for row in result}

    async def put_role(self, name: str, definition: Mapping[str, object], now: datetime) -> bool:
        """Create or replace; True when it was created."""
        text = json.dumps(definition)
        async with self._db.begin() as connection:
            result = await connection.execute(
                update(roles).where(roles.c.name == name).values(definition=text, updated_at=now)
            )
            if result.rowcount:
                return False
            await connection.execute(
                insert(roles).values(name=name, definition=text, created_at=now, updated_at=now)
            )
            return True

    async def delete_role(self, name: str) -> bool:
        async with self._db.begin() as connection:
            result = await connection.execute(delete(roles).where(roles.c.name == name))
            return bool(result.rowcount)

    # API keys

    async def insert_api_key(self, key: StoredApiKey) -> None:
        descriptors = json.dumps(key.role_descriptors) if key.role_descriptors is not None else None
        async with self._db.begin() as connection:
            await connection.execute(
                insert(api_keys).values(
                    id=key.id,
                    name=key.name,
                    owner=key.owner,
                    secret_hash=key.secret_hash,
                    role_descriptors=descriptors,
                    created_at=key.created_at,
                    expires_at=key.expires_at,
                    invalidated_at=key.invalidated_at,
                    owner_id=key.owner_id,
                )
            )

    async def get_api_key(self, key_id: str) -> StoredApiKey | None:
        async with self._db.connect() as connection:
            row = (
                await connection.execute(select(api_keys).where(api_keys.c.id == key_id))
            ).first()
        return _api_key(row._mapping) if row is not None else None

    async def list_api_keys(self, owner_id: str | None = None) -> list[StoredApiKey]:
        """Every key, or those of the user with id ``owner_id``."""
        statement = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if owner_id is not None:
            statement = statement.where(api_keys.c.owner_id == owner_id)
        async with self._db.connect() as connection:
            return [_api_key(row._mapping) for row in await connection.execute(statement)]

    async def invalidate_api_keys(
        self, ids: Sequence[str], owner_id: str | None, now: datetime
    ) -> tuple[list[str], list[str]]:
        """(newly invalidated, already invalid) among ``ids`` (restricted to ``owner_id``'s)."""
        statement = select(api_keys.c.id, api_keys.c.invalidated_at).where(api_keys.c.id.in_(ids))
        if owner_id is not None:
            statement = statement.where(api_keys.c.owner_id == owner_id)
        async with self._db.begin() as connection:
            found = (await connection.execute(statement)).all()
            fresh = [row.id for row in found if row.invalidated_at is None]
            stale = [row.id for row in found if row.invalidated_at is not None]
            if fresh:
                await connection.execute(
                    update(api_keys).where(api_keys.c.id.in_(fresh)).values(invalidated_at=now)
                )
        return fresh, stale

    # sessions

    async def create_session(self, session: StoredSession) -> None:
        async with self._db.begin() as connection:
            await connection.execute(
                insert(sessions).values(
                    id_digest=session.id_digest,
                    username=session.username,
                    created_at=session.created_at,
                    last_seen_at=session.last_seen_at,
                    user_id=session.user_id,
                )
            )

    async def get_session(self, id_digest: str) -> StoredSession | None:
        async with self._db.connect() as connection:
            statement = select(sessions).where(sessions.c.id_digest == id_digest)
            row = (await connection.execute(statement)).first()
        return StoredSession(**row._mapping) if row is not None else None

    async def touch_session(self, id_digest: str, now: datetime) -> None:
        async with self._db.begin() as connection:
            await connection.execute(
                update(sessions).where(sessions.c.id_digest == id_digest).values(last_seen_at=now)
            )

    async def delete_session(self, id_digest: str) -> None:
        async with self._db.begin() as connection:
            await connection.execute(delete(sessions).where(sessions.c.id_digest == id_digest))

    async def delete_sessions_of(self, user_id: str) -> None:
        async with self._db.begin() as connection:
            await connection.execute(delete(sessions).where(sessions.c.user_id == user_id))

    async def delete_sessions_before(self, created_before: datetime, seen_before: datetime) -> int:
        async with self._db.begin() as connection:
            result = await connection.execute(
                delete(sessions).where(
                    (sessions.c.created_at < created_before)
                    | (sessions.c.last_seen_at < seen_before)
                )
            )
            return int(result.rowcount)

    # audit events

    async def insert_audit_events(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if self._audit_insert is None:
            self._audit_insert = PreparedStatement(self._db, insert(audit_events))
        await self._db.write_prepared([await self._audit_insert.rows_in_slices(rows)])

    async def find_audit_events(
        self, where: AuditFilter, *, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        conditions = []
        if where.start is not None:
            conditions.append(audit_events.c.timestamp >= where.start)
        if where.end is not None:
            conditions.append(audit_events.c.timestamp <= where.end)
        if where.action is not None:
            conditions.append(audit_events.c.action == where.action)
        if where.user_name is not None:
            conditions.append(audit_events.c.user_name == where.user_name)
        if where.outcome is not None:
            conditions.append(audit_events.c.outcome == where.outcome)
        page = (
            select(audit_events)
            .where(*conditions)
            .order_by(audit_events.c.timestamp.desc(), audit_events.c.id.desc())
            .offset(offset)
            .limit(min(limit, MAX_PAGE))
        )
        count = select(func.count()).select_from(audit_events).where(*conditions)
        async with self._db.connect() as connection:
            total = (await connection.execute(count)).scalar_one()
            rows = [dict(row._mapping) for row in await connection.execute(page)]
        return int(total), rows

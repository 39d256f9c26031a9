"""The security tables on SQLite and PostgreSQL: users, roles, keys, sessions, audit events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import Connection, inspect, text

from llmrelay.storage import (
    AuditFilter,
    Database,
    SecurityStore,
    StoredApiKey,
    StoredSession,
    StoredUser,
)
from llmrelay.storage.db import _alembic_config

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def user(name: str) -> StoredUser:
    return StoredUser(name, "$argon2id$fake", ("viewer",), None, None, True, NOW, NOW, f"{name}-id")


async def test_users_are_created_once_updated_and_deleted(database: Database) -> None:
    store = SecurityStore(database)
    assert await store.count_users() == 0
    assert await store.create_user(user("alice"))
    assert not await store.create_user(user("alice"))  # taken: no exception, nothing changed
    assert await store.update_user("alice", roles=["superuser"], enabled=False)
    found = await store.get_user("alice")
    assert found is not None
    assert found.roles == ("superuser",)
    assert not found.enabled
    assert [u.username for u in await store.list_users()] == ["alice"]
    assert await store.delete_user("alice", NOW)
    assert await store.get_user("alice") is None
    assert not await store.delete_user("alice", NOW)


async def test_deleting_a_user_ends_their_sessions_and_invalidates_their_keys(
    database: Database,
) -> None:
    """A new user of the same name gets a new id, so nothing of the old one's comes back."""
    store = SecurityStore(database)
    assert await store.create_user(user("bob"))
    key = StoredApiKey("k1", "ci", "bob", "0" * 64, None, NOW, None, None, "bob-id")
    await store.insert_api_key(key)
    await store.create_session(StoredSession("d1", "bob", NOW, NOW, "bob-id"))
    assert await store.delete_user("bob", NOW)
    assert await store.create_user(_renamed("bob", "bob-2"))
    found = await store.get_api_key("k1")
    assert found is not None
    assert found.invalidated_at == NOW
    assert found.owner_id == "bob-id"
    assert await store.get_session("d1") is None
    assert await store.list_api_keys("bob-2") == []
    again = await store.get_user_by_id("bob-2")
    assert again is not None
    assert again.username == "bob"
    assert await store.get_user_by_id("bob-id") is None


def _renamed(name: str, user_id: str) -> StoredUser:
    return StoredUser(name, "$argon2id$fake", ("viewer",), None, None, True, NOW, NOW, user_id)


async def test_roles_are_put_and_deleted(database: Database) -> None:
    store = SecurityStore(database)
    definition = {"kibana": [{"feature": {"actions": ["read"]}, "spaces": ["*"]}]}
    assert await store.put_role("runner", definition, NOW)
    assert not await store.put_role("runner", {"kibana": []}, NOW)
    assert await store.get_role("runner") == {"kibana": []}
    assert await store.delete_role("runner")
    assert await store.list_roles() == {}


async def test_api_keys_are_invalidated_only_for_their_owner(database: Database) -> None:
    store = SecurityStore(database)
    for key_id, owner in (("k1", "alice"), ("k2", "bob")):
        await store.insert_api_key(
            StoredApiKey(
                key_id,
                "ci",
                owner,
                "0" * 64,
                {"r": {}},
                NOW,
                NOW + timedelta(days=1),
                None,
                f"{owner}-id",
            )
        )
    assert await store.invalidate_api_keys(["k1", "k2"], "alice-id", NOW) == (["k1"], [])
    assert await store.invalidate_api_keys(["k1"], None, NOW) == ([], ["k1"])
    key = await store.get_api_key("k2")
    assert key is not None
    assert key.invalidated_at is None
    assert key.role_descriptors == {"r": {}}
    assert [k.id for k in await store.list_api_keys("bob-id")] == ["k2"]


async def test_sessions_and_their_expiry(database: Database) -> None:
    store = SecurityStore(database)
    await store.create_session(StoredSession("d1", "alice", NOW, NOW, "alice-id"))
    await store.create_session(
        StoredSession("d2", "alice", NOW, NOW + timedelta(hours=1), "alice-id")
    )
    await store.touch_session("d1", NOW + timedelta(minutes=5))
    found = await store.get_session("d1")
    assert found is not None
    assert found.last_seen_at == NOW + timedelta(minutes=5)
    assert await store.delete_sessions_before(NOW, NOW + timedelta(minutes=30)) == 1
    assert await store.get_session("d1") is None
    assert await store.get_session("d2") is not None
    await store.delete_sessions_of("alice-id")
    assert await store.get_session("d2") is None


async def test_audit_events_are_found_newest_first_and_filtered(database: Database) -> None:
    store = SecurityStore(database)
    rows = [
        {
            "id": f"e{i}",
            "timestamp": NOW + timedelta(seconds=i),
            "action": "login" if i % 2 else "authentication_failed",
            "outcome": "success" if i % 2 else "failure",
            "user_name": "alice",
            "auth_type": None,
            "client_address": "127.0.0.1",
            "target": None,
            "message": "",
            "user_id": "alice-id",
            "forwarded_address": None,
        }
        for i in range(5)
    ]
    await store.insert_audit_events(rows)
    total, page = await store.find_audit_events(AuditFilter(outcome="failure"), offset=0, limit=2)
    assert total == 3
    assert [r["id"] for r in page] == ["e4", "e2"]


SECURITY_TABLES = {"users", "roles", "api_keys", "sessions", "audit_events"}


async def test_0003_upgrades_a_0002_database_and_downgrades_cleanly(database_url: str) -> None:
    """On both backends: stored connectors survive, the security tables come and go."""

    def migrate(connection: Connection, target: str, down: bool = False) -> None:
        config = _alembic_config(connection)
        (command.downgrade if down else command.upgrade)(config, target)

    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with Database(database_url) as db:
        async with db.begin() as connection:
            await connection.run_sync(migrate, "0002")
            await connection.execute(
                text(
                    "INSERT INTO connectors (id, name, connector_type_id, config, created_at, "
                    "updated_at) VALUES ('kept', 'kept', '.gen-ai', '{}', :t, :t)"
                ),
                {"t": NOW},
            )
        await db.upgrade()
        async with db.connect() as connection:
            assert await connection.run_sync(tables) >= SECURITY_TABLES
            kept = await connection.execute(text("SELECT id FROM connectors"))
            assert [row.id for row in kept] == ["kept"]
        async with db.begin() as connection:
            await connection.run_sync(migrate, "0002", True)
        async with db.connect() as connection:
            assert not SECURITY_TABLES & await connection.run_sync(tables)
        assert await db.current_revision() == "0002"


async def test_0004_gives_users_ids_and_binds_keys_and_sessions_to_them(database_url: str) -> None:
    """On both backends: rows made at 0003 carry over; a key or session whose owner is gone
    binds to nobody (the key stays listed, the session goes)."""

    def migrate(connection: Connection, target: str) -> None:
        command.upgrade(_alembic_config(connection), target)

    async with Database(database_url) as db:
        async with db.begin() as connection:
            await connection.run_sync(migrate, "0003_dashboard")
            for name in ("alice", "bob"):
                await connection.execute(
                    text(
                        "INSERT INTO users (username, password_hash, roles, enabled, "
                        "created_at, updated_at) VALUES (:n, 'h', '[]', true, :t, :t)"
                    ),
                    {"n": name, "t": NOW},
                )
            for key_id, owner in (("k1", "alice"), ("k2", "gone")):
                await connection.execute(
                    text(
                        "INSERT INTO api_keys (id, name, owner, secret_hash, created_at) "
                        "VALUES (:i, 'ci', :o, 'd', :t)"
                    ),
                    {"i": key_id, "o": owner, "t": NOW},
                )
            for digest, owner in (("s1", "bob"), ("s2", "gone")):
                await connection.execute(
                    text(
                        "INSERT INTO sessions (id_digest, username, created_at, last_seen_at) "
                        "VALUES (:d, :o, :t, :t)"
                    ),
                    {"d": digest, "o": owner, "t": NOW},
                )
        await db.upgrade()
        store = SecurityStore(db)
        alice, bob = await store.get_user("alice"), await store.get_user("bob")
        assert alice is not None
        assert bob is not None
        assert alice.id != bob.id
        assert len(alice.id) >= 32
        k1, k2 = await store.get_api_key("k1"), await store.get_api_key("k2")
        assert (k1.owner_id if k1 else "", k2.owner_id if k2 else "") == (alice.id, None)
        s1 = await store.get_session("s1")
        assert s1 is not None
        assert s1.user_id == bob.id
        assert await store.get_session("s2") is None

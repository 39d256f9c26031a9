"""ConnectorRepository, on SQLite and PostgreSQL: what the actions client relies on."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event as sqlalchemy_event

from llmrelay.errors import BadRequestError, ConflictError, NotFoundError, SecretsError
from llmrelay.storage import ConnectorRepository, Database, SecretsCipher, StoredConnector
from llmrelay.storage.tables import connectors

OPENAI_CONFIG: dict[str, object] = {
    "apiProvider": "OpenAI",
    "apiUrl": "https://api.openai.com/v1/chat/completions",
    "defaultModel": "gpt-4o",
    "headers": {"X-Zeta": "1", "X-Alpha": "2"},
}
API_KEY = "sk-test-4f1c2a9be07d4c3f8d1e5b6a7c8d9e0f"


async def read_secrets(repository: ConnectorRepository, id: str) -> dict[str, str]:
    """The secrets an execution of ``id`` would get: the one way they leave storage."""
    return dict((await repository.load_for_execution(id))[1])


async def create(
    repository: ConnectorRepository,
    id: str = "c1",
    name: str = "My OpenAI",
    secrets: dict[str, str] | None = None,
) -> StoredConnector:
    return await repository.create(
        id=id,
        name=name,
        connector_type_id=".gen-ai",
        config=OPENAI_CONFIG,
        secrets={"apiKey": API_KEY} if secrets is None else secrets,
    )


async def test_create_returns_what_get_reads_back(repository: ConnectorRepository) -> None:
    before = datetime.now(UTC)
    created = await create(repository)

    assert created.id == "c1"
    assert created.name == "My OpenAI"
    assert created.connector_type_id == ".gen-ai"
    assert created.config == OPENAI_CONFIG
    assert created.is_missing_secrets is False
    assert created.created_at == created.updated_at
    assert created.created_at.tzinfo is not None
    assert before <= created.created_at <= datetime.now(UTC)
    assert await repository.get("c1") == created


async def test_stored_connector_has_no_secrets(repository: ConnectorRepository) -> None:
    created = await create(repository)

    assert "secrets" not in {field.name for field in dataclasses.fields(created)}
    assert API_KEY not in repr(created)


async def test_config_key_order_survives_the_round_trip(repository: ConnectorRepository) -> None:
    config: dict[str, object] = {"z": 1, "a": {"y": [3, 1], "b": None}, "m": "ünïcødé", "0": True}
    await repository.create(
        id="ordered", name="n", connector_type_id=".gen-ai", config=config, secrets=None
    )

    stored = (await repository.get("ordered")).config
    assert list(stored) == ["z", "a", "m", "0"]
    assert list(stored["a"]) == ["y", "b"]  # type: ignore[call-overload]
    assert stored == config


async def test_duplicate_id_is_a_conflict(repository: ConnectorRepository) -> None:
    await create(repository, id="dup")

    with pytest.raises(ConflictError) as caught:
        await create(repository, id="dup", name="another")

    assert caught.value.message == "Saved object [action/dup] conflict"
    assert (await repository.get("dup")).name == "My OpenAI"


async def test_concurrent_creates_with_one_id_give_one_conflict(
    repository: ConnectorRepository,
) -> None:
    results = await asyncio.gather(
        *(create(repository, id="race", name=f"n{i}") for i in range(4)), return_exceptions=True
    )

    assert sum(isinstance(r, StoredConnector) for r in results) == 1
    assert sum(isinstance(r, ConflictError) for r in results) == 3


async def test_overlong_id_is_refused(repository: ConnectorRepository) -> None:
    with pytest.raises(BadRequestError, match="1 to 255 characters"):
        await create(repository, id="x" * 256)


async def test_config_that_is_not_json_is_refused(repository: ConnectorRepository) -> None:
    with pytest.raises(BadRequestError, match="not valid JSON"):
        await repository.create(
            id="nan", name="n", connector_type_id=".gen-ai", config={"t": float("nan")}, secrets={}
        )


UNKNOWN_ID_CALLS: dict[str, Callable[[ConnectorRepository], Awaitable[object]]] = {
    "get": lambda repository: repository.get("nope"),
    "delete": lambda repository: repository.delete("nope"),
    "load_for_execution": lambda repository: repository.load_for_execution("nope"),
    "update": lambda repository: repository.update("nope", name="n", config={}, secrets=None),
}


@pytest.mark.parametrize("operation", sorted(UNKNOWN_ID_CALLS))
async def test_unknown_id_is_not_found(repository: ConnectorRepository, operation: str) -> None:
    call = UNKNOWN_ID_CALLS[operation]

    with pytest.raises(NotFoundError) as caught:
        await call(repository)

    assert caught.value.message == "Saved object [action/nope] not found"


async def test_list_orders_by_name_then_id(repository: ConnectorRepository) -> None:
    for id, name in [("3", "beta"), ("2", "Alpha"), ("1", "beta"), ("4", "alpha")]:
        await create(repository, id=id, name=name)

    listed = await repository.list()

    assert [(c.name, c.id) for c in listed] == [
        ("Alpha", "2"),
        ("alpha", "4"),
        ("beta", "1"),
        ("beta", "3"),
    ]


async def test_list_of_empty_database(repository: ConnectorRepository) -> None:
    assert await repository.list() == []


async def test_update_replaces_name_config_and_secrets(repository: ConnectorRepository) -> None:
    created = await create(repository)
    await asyncio.sleep(0.01)

    updated = await repository.update(
        "c1", name="Renamed", config={"apiProvider": "Other"}, secrets={"apiKey": "sk-new"}
    )

    assert updated.name == "Renamed"
    assert updated.config == {"apiProvider": "Other"}
    assert updated.connector_type_id == ".gen-ai"
    assert updated.created_at == created.created_at
    assert updated.updated_at > created.updated_at
    assert updated.is_missing_secrets is False
    assert await repository.get("c1") == updated
    assert await read_secrets(repository, "c1") == {"apiKey": "sk-new"}


async def test_update_without_secrets_clears_them(repository: ConnectorRepository) -> None:
    await create(repository)

    updated = await repository.update("c1", name="n", config={}, secrets=None)

    assert updated.is_missing_secrets is True
    assert await read_secrets(repository, "c1") == {}


async def test_delete_removes_the_connector(repository: ConnectorRepository) -> None:
    await create(repository, id="a")
    await create(repository, id="b")

    await repository.delete("a")

    assert [c.id for c in await repository.list()] == ["b"]
    with pytest.raises(NotFoundError):
        await repository.get("a")
    with pytest.raises(NotFoundError):
        await repository.delete("a")


async def test_secrets_round_trip(repository: ConnectorRepository) -> None:
    secrets = {"apiKey": API_KEY, "organization": "org-ünï"}
    await create(repository, secrets=secrets)

    assert await read_secrets(repository, "c1") == secrets


async def test_missing_and_empty_secrets(repository: ConnectorRepository) -> None:
    without = await repository.create(
        id="none", name="n", connector_type_id=".gen-ai", config={}, secrets=None
    )
    empty = await repository.create(
        id="empty", name="n", connector_type_id=".gen-ai", config={}, secrets={}
    )

    assert without.is_missing_secrets is True
    assert (await repository.get("none")).is_missing_secrets is True
    assert await read_secrets(repository, "none") == {}
    assert empty.is_missing_secrets is False
    assert (await repository.get("empty")).is_missing_secrets is False
    assert await read_secrets(repository, "empty") == {}


async def test_secrets_are_stored_encrypted(
    repository: ConnectorRepository, database: Database, cipher: SecretsCipher
) -> None:
    await create(repository)

    async with database.connect() as connection:
        stored = (await connection.execute(connectors.select())).one().secrets

    assert API_KEY not in stored
    assert stored.startswith(f"v1.{cipher.primary_key_id}.")


async def test_secrets_copied_to_another_connector_do_not_decrypt(
    repository: ConnectorRepository, database: Database
) -> None:
    await create(repository, id="victim")
    await create(repository, id="attacker", secrets={"apiKey": "sk-attacker"})
    async with database.begin() as connection:
        stolen = (
            (await connection.execute(connectors.select().where(connectors.c.id == "victim")))
            .one()
            .secrets
        )
        await connection.execute(
            connectors.update().where(connectors.c.id == "attacker").values(secrets=stolen)
        )

    with pytest.raises(SecretsError, match="failed authentication"):
        await read_secrets(repository, "attacker")


async def test_secrets_under_a_lost_key_say_so(
    repository: ConnectorRepository, database: Database
) -> None:
    await create(repository)
    other = ConnectorRepository(database, SecretsCipher("a-completely-different-key-" + "x" * 10))

    with pytest.raises(SecretsError, match="not configured"):
        await read_secrets(other, "c1")
    assert (await other.get("c1")).name == "My OpenAI"


async def test_sqlite_file_never_holds_the_api_key(tmp_path: Path, cipher: SecretsCipher) -> None:
    path = tmp_path / "plain.db"
    async with Database(f"sqlite:///{path}") as db:
        await db.upgrade()
        repository = ConnectorRepository(db, cipher)
        await create(repository, id="one")
        await repository.update("one", name="again", config={}, secrets={"apiKey": API_KEY})
        await create(repository, id="two")
        assert await read_secrets(repository, "two") == {"apiKey": API_KEY}

    files = [p for p in tmp_path.iterdir() if p.name.startswith("plain.db")]
    assert path in files
    for file in files:
        raw = file.read_bytes()
        assert API_KEY.encode() not in raw, file
    assert b"My OpenAI" in path.read_bytes(), "the WAL was not checkpointed into the file"


def count_connector_reads(database: Database) -> list[str]:
    """Every SELECT of the connectors table the engine runs, from now on."""
    reads: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM connectors" in statement:
            reads.append(statement)

    sqlalchemy_event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    return reads


@pytest.fixture
async def cached(database: Database, cipher: SecretsCipher) -> ConnectorRepository:
    """A repository that caches executions' reads, holding the connector ``c1``."""
    repository = ConnectorRepository(database, cipher, execution_cache_ttl_s=60)
    await create(repository)
    return repository


async def test_concurrent_executions_of_an_uncached_connector_share_one_read(
    database: Database, cached: ConnectorRepository
) -> None:
    """A busy connector whose cache entry expires must not send every caller to the database."""
    repository = cached
    reads = count_connector_reads(database)
    loaded = await asyncio.gather(*(repository.load_for_execution("c1") for _ in range(20)))
    assert len(reads) == 1
    assert all(secrets == {"apiKey": API_KEY} for _, secrets in loaded)
    await repository.load_for_execution("c1")
    assert len(reads) == 1  # now cached


async def test_a_shared_read_of_an_unknown_connector_fails_every_caller(
    repository: ConnectorRepository,
) -> None:
    results = await asyncio.gather(
        *(repository.load_for_execution("nope") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, NotFoundError) for result in results)


async def test_a_read_racing_an_update_never_leaves_the_old_row_cached(
    cached: ConnectorRepository,
) -> None:
    repository = cached
    racing = asyncio.ensure_future(repository.load_for_execution("c1"))
    await asyncio.sleep(0)  # the read has begun
    await repository.update(
        "c1", name="Renamed", config=OPENAI_CONFIG, secrets={"apiKey": "sk-new"}
    )
    await racing
    stored, secrets = await repository.load_for_execution("c1")
    assert (stored.name, secrets) == ("Renamed", {"apiKey": "sk-new"})


async def test_a_caller_giving_up_does_not_cancel_the_read_for_the_others(
    cached: ConnectorRepository,
) -> None:
    repository = cached
    impatient = asyncio.ensure_future(repository.load_for_execution("c1"))
    patient = asyncio.ensure_future(repository.load_for_execution("c1"))
    await asyncio.sleep(0)
    impatient.cancel()
    stored, _ = await patient
    assert stored.id == "c1"
    assert impatient.cancelled()


async def test_secrets_are_decrypted_once_per_read_and_handed_out_read_only(
    cached: ConnectorRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Executions within the cache's TTL share one decryption; a change is decrypted anew."""
    repository = cached
    decrypted: list[str] = []
    decrypt = SecretsCipher.decrypt_json

    def counting(self: SecretsCipher, connector_id: str, text: str) -> dict[str, str]:
        decrypted.append(connector_id)
        return decrypt(self, connector_id, text)

    monkeypatch.setattr(SecretsCipher, "decrypt_json", counting)
    loads = [await repository.load_for_execution("c1") for _ in range(5)]
    assert decrypted == ["c1"]
    assert all(secrets is loads[0][1] for _, secrets in loads)  # callers may remember by identity
    with pytest.raises(TypeError):
        loads[0][1]["apiKey"] = "changed"  # type: ignore[index]
    await repository.update("c1", name="c1", config=OPENAI_CONFIG, secrets={"apiKey": "sk-new"})
    _, secrets = await repository.load_for_execution("c1")
    assert dict(secrets) == {"apiKey": "sk-new"}
    assert decrypted == ["c1", "c1"]

"""Least privilege: each role may do what it grants and gets a 403 naming the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tests.api.conftest import (
    USER_PASSWORD,
    add_user,
    api_key_header,
    create_api_key,
    create_connector,
)
from tests.conftest import http_client
from tests.upstream import UpstreamServer

RUN = {"params": {"subAction": "run", "subActionParams": {"body": '{"messages":[]}'}}}
NEW = {
    "name": "n",
    "connector_type_id": ".gen-ai",
    "config": {"apiProvider": "OpenAI", "apiUrl": "http://127.0.0.1:9/v1"},
    "secrets": {"apiKey": "k"},
}


@pytest.fixture
async def connector_id(client: httpx.AsyncClient, upstream: UpstreamServer) -> str:
    return await create_connector(client, f"{upstream.base_url}/v1/chat/completions")


async def as_role(app: Starlette, client: httpx.AsyncClient, *roles: str) -> httpx.AsyncClient:
    auth = await add_user(client, "someone", *roles)
    return http_client(app, auth)


@pytest.fixture
async def user(
    request: pytest.FixtureRequest, app: Starlette, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    async with await as_role(app, client, *request.param) as http:
        yield http


def calls(cid: str) -> dict[str, tuple[str, str, object]]:
    return {
        "list": ("GET", "/api/actions/connectors", None),
        "get": ("GET", f"/api/actions/connector/{cid}", None),
        "types": ("GET", "/api/actions/connector_types", None),
        "run": ("POST", f"/api/actions/connector/{cid}/_execute", RUN),
        "create": ("POST", "/api/actions/connector", NEW),
        "update": (
            "PUT",
            f"/api/actions/connector/{cid}",
            {"name": "m", "config": NEW["config"], "secrets": {"apiKey": "k"}},
        ),
        "events": ("GET", f"/api/event_log/connector/{cid}/_find", None),
        "users": ("GET", "/internal/security/users", None),
        "audit": ("GET", "/api/security/audit/_find", None),
        "delete": ("DELETE", f"/api/actions/connector/{cid}", None),
    }


MISSING = {
    "list": "connectors:read",
    "get": "connectors:read",
    "types": "connectors:read",
    "run": "connectors:read",
    "create": "connectors:all",
    "update": "connectors:all",
    "delete": "connectors:all",
    "events": "event_log:read",
    "users": "cluster:manage_security",
    "audit": "cluster:manage_security",
}


@pytest.mark.parametrize(
    ("user", "allowed"),
    [
        ((), set()),
        (("viewer",), {"list", "get", "types", "run", "events"}),
        (("connectors_user",), {"list", "get", "types", "run"}),
        (("usage_viewer",), {"list", "get", "types", "run", "events"}),
        (("connectors_admin",), {"list", "get", "types", "run", "create", "update", "delete"}),
        (("superuser",), set(MISSING)),
    ],
    indirect=["user"],
)
async def test_each_built_in_role_may_do_exactly_what_it_grants(
    user: httpx.AsyncClient, connector_id: str, allowed: set[str]
) -> None:
    for name, (method, path, body) in calls(connector_id).items():
        response = await user.request(method, path, json=body)
        if name in allowed:
            assert response.status_code in (200, 204), (name, response.text)
        else:
            assert response.status_code == 403, (name, response.text)
            assert response.json() == {
                "statusCode": 403,
                "error": "Forbidden",
                "message": "Unauthorized to perform this action: someone lacks the "
                f"[{MISSING[name]}] privilege",
            }


async def test_a_403_does_not_tell_whether_the_connector_exists(
    app: Starlette, client: httpx.AsyncClient, connector_id: str
) -> None:
    async with await as_role(app, client) as nobody:
        real = await nobody.delete(f"/api/actions/connector/{connector_id}")
        ghost = await nobody.delete("/api/actions/connector/does-not-exist")
        real_run = await nobody.post(f"/api/actions/connector/{connector_id}/_execute", json=RUN)
        ghost_run = await nobody.post("/api/actions/connector/does-not-exist/_execute", json=RUN)
    assert (real.status_code, real.json()) == (ghost.status_code, ghost.json())
    assert (real_run.status_code, real_run.json()) == (ghost_run.status_code, ghost_run.json())
    assert (await client.get(f"/api/actions/connector/{connector_id}")).status_code == 200


async def test_executions_record_who_ran_them(
    app: Starlette, client: httpx.AsyncClient, connector_id: str
) -> None:
    async with await as_role(app, client, "connectors_user") as runner:
        assert (
            await runner.post(f"/api/actions/connector/{connector_id}/_execute", json=RUN)
        ).status_code == 200
    await client.post(f"/api/actions/connector/{connector_id}/_execute", json=RUN)
    await app.state.services.events.flush()
    found = (await client.get(f"/api/event_log/connector/{connector_id}/_find")).json()["data"]
    assert sorted(e["user"]["name"] for e in found) == ["admin", "someone"]


async def test_an_api_key_is_limited_to_its_role_descriptors(
    client: httpx.AsyncClient, connector_id: str
) -> None:
    read_only = {"r": {"kibana": [{"feature": {"actions": ["read"]}, "spaces": ["*"]}]}}
    key = await create_api_key(client, role_descriptors=read_only)
    headers = api_key_header(key)
    assert (
        await client.get("/api/actions/connectors", headers=headers, auth=None)
    ).status_code == 200
    refused = await client.post("/api/actions/connector", json=NEW, headers=headers, auth=None)
    assert refused.status_code == 403
    assert "[connectors:all]" in refused.json()["message"]
    me = (await client.get("/internal/security/me", headers=headers, auth=None)).json()
    assert me["privileges"] == ["connectors:read"]


async def test_a_key_limited_to_connectors_cannot_list_or_invalidate_its_owners_keys(
    client: httpx.AsyncClient,
) -> None:
    other = await create_api_key(client, name="other")
    read_only = {"r": {"kibana": [{"feature": {"actions": ["read"]}, "spaces": ["*"]}]}}
    limited = api_key_header(await create_api_key(client, role_descriptors=read_only))
    listed = await client.get("/api/security/api_key", headers=limited, auth=None)
    assert listed.status_code == 403
    assert "lacks the [cluster:manage_own_api_key] privilege" in listed.json()["message"]
    gone = await client.request(
        "DELETE", "/api/security/api_key", json={"ids": [other["id"]]}, headers=limited, auth=None
    )
    assert gone.status_code == 403
    still = await client.get("/internal/security/me", headers=api_key_header(other), auth=None)
    assert still.status_code == 200
    granted = {"k": {"elasticsearch": {"cluster": ["manage_own_api_key"]}}}
    manager = api_key_header(await create_api_key(client, role_descriptors=granted))
    names = await client.get("/api/security/api_key", headers=manager, auth=None)
    assert names.status_code == 200
    assert len(names.json()["api_keys"]) == 3


async def test_a_custom_role_without_manage_own_api_key_cannot_create_keys(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    role = {"kibana": [{"feature": {"actions": ["read"]}, "spaces": ["*"]}]}
    assert (await client.put("/api/security/role/runner", json=role)).status_code == 204
    async with await as_role(app, client, "runner") as runner:
        refused = await runner.post("/api/security/api_key", json={"name": "k"})
        assert refused.status_code == 403
        assert "[cluster:manage_own_api_key]" in refused.json()["message"]
    role["elasticsearch"] = {"cluster": ["manage_own_api_key"]}  # type: ignore[assignment]
    assert (await client.put("/api/security/role/runner", json=role)).status_code == 204
    async with http_client(app, httpx.BasicAuth("someone", USER_PASSWORD)) as runner:
        assert (await runner.post("/api/security/api_key", json={"name": "k"})).status_code == 200


async def test_an_api_key_never_exceeds_its_owner(
    app: Starlette, client: httpx.AsyncClient, connector_id: str
) -> None:
    everything = {"all": {"elasticsearch": {"cluster": ["all"]}}}
    async with await as_role(app, client, "connectors_user") as runner:
        key = await create_api_key(runner, role_descriptors=everything)
    headers = api_key_header(key)
    async with http_client(app, auth=None) as anonymous:
        assert (await anonymous.get("/api/actions/connectors", headers=headers)).status_code == 200
        response = await anonymous.delete(f"/api/actions/connector/{connector_id}", headers=headers)
        assert response.status_code == 403
        users = await anonymous.get("/internal/security/users", headers=headers)
        assert users.status_code == 403


async def test_a_user_sees_and_invalidates_only_their_own_keys(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    admin_key = await create_api_key(client, name="admin's")
    async with await as_role(app, client, "viewer") as viewer:
        own = await create_api_key(viewer, name="mine")
        listed = (await viewer.get("/api/security/api_key")).json()["api_keys"]
        assert [k["name"] for k in listed] == ["mine"]
        other = await viewer.request(
            "DELETE", "/api/security/api_key", json={"ids": [admin_key["id"]]}
        )
        assert other.status_code == 404
        mine = await viewer.request("DELETE", "/api/security/api_key", json={"ids": [own["id"]]})
        assert mine.json()["invalidated_api_keys"] == [own["id"]]
    everyone = (await client.get("/api/security/api_key")).json()["api_keys"]
    assert {k["name"] for k in everyone} == {"admin's", "mine"}
    ok = await client.get("/internal/security/me", headers=api_key_header(admin_key), auth=None)
    assert ok.status_code == 200


async def test_a_custom_role_from_the_api_grants_its_privileges(
    app: Starlette, client: httpx.AsyncClient, connector_id: str
) -> None:
    role = {
        "elasticsearch": {"indices": [{"names": [".kibana-event-log*"], "privileges": ["read"]}]},
        "kibana": [],
    }
    assert (await client.put("/api/security/role/log_reader", json=role)).status_code == 204
    async with await as_role(app, client, "log_reader") as reader:
        assert (
            await reader.get(f"/api/event_log/connector/{connector_id}/_find")
        ).status_code == 200
        assert (await reader.get("/api/actions/connectors")).status_code == 403
    shown = (await client.get("/api/security/role/log_reader")).json()
    assert shown["privileges"] == ["event_log:read"]

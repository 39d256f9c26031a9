"""Users and roles through the API: Kibana's shapes; bad input is a 400 that changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.app import create_app
from llmrelay.errors import ConfigurationError
from tests.api.conftest import USER_PASSWORD, add_user
from tests.conftest import api_client, http_client, make_settings


async def test_user_round_trip(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/internal/security/users/carol",
        json={"password": USER_PASSWORD, "roles": ["viewer"], "full_name": "Carol", "email": "c@x"},
    )
    assert created.json() == {
        "username": "carol",
        "roles": ["viewer"],
        "full_name": "Carol",
        "email": "c@x",
        "enabled": True,
        "metadata": {},
    }
    updated = await client.post("/internal/security/users/carol", json={"roles": ["usage_viewer"]})
    assert updated.json()["roles"] == ["usage_viewer"]
    names = [u["username"] for u in (await client.get("/internal/security/users")).json()]
    assert names == ["admin", "carol"]
    assert "password" not in str((await client.get("/internal/security/users/carol")).json())
    assert (await client.delete("/internal/security/users/carol")).status_code == 204
    assert (await client.get("/internal/security/users/carol")).status_code == 404


@pytest.mark.parametrize(
    ("username", "body", "status", "message"),
    [
        (
            "dave",
            {"password": USER_PASSWORD, "roles": ["nope"]},
            400,
            "[roles]: unknown role [nope]",
        ),
        ("dave", {"password": "short", "roles": []}, 400, "[password]: must be at least 8"),
        ("dave", {"roles": []}, 400, "[password]: required when creating a user"),
        ("da ve", {"password": USER_PASSWORD}, 400, "[username]: 1 to 255 letters"),
        ("dave", {"password": USER_PASSWORD, "roles": "viewer"}, 400, "[request body.roles]"),
        (
            "dave",
            {"password": USER_PASSWORD, "admin": True},
            400,
            "definition for this key is missing",
        ),
        ("dave", {"username": "eve", "password": USER_PASSWORD}, 400, "must match the user name"),
    ],
)
async def test_bad_user_requests_create_nothing(
    client: httpx.AsyncClient, username: str, body: dict[str, object], status: int, message: str
) -> None:
    response = await client.post(f"/internal/security/users/{username}", json=body)
    assert response.status_code == status
    assert message in response.json()["message"]
    names = [u["username"] for u in (await client.get("/internal/security/users")).json()]
    assert names == ["admin"]


async def test_an_update_with_an_unknown_role_changes_nothing(client: httpx.AsyncClient) -> None:
    await add_user(client, "frank", "viewer")
    response = await client.post(
        "/internal/security/users/frank", json={"roles": ["viewer", "ghost"]}
    )
    assert response.status_code == 400
    assert (await client.get("/internal/security/users/frank")).json()["roles"] == ["viewer"]


async def test_you_cannot_delete_or_disable_yourself(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/internal/security/users/admin")).status_code == 400
    response = await client.post(
        "/internal/security/users/admin", json={"roles": ["superuser"], "enabled": False}
    )
    assert response.status_code == 400


async def test_a_disabled_user_cannot_authenticate(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    auth = await add_user(client, "gina", "viewer")
    await client.post("/internal/security/users/gina", json={"roles": ["viewer"], "enabled": False})
    async with http_client(app, auth) as gina:
        assert (await gina.get("/internal/security/me")).status_code == 401


async def test_changing_your_own_password_needs_the_current_one(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    auth = await add_user(client, "hana", "viewer")
    async with http_client(app, auth) as hana:
        path = "/internal/security/users/hana/change_password"
        wrong = await hana.post(
            path, json={"password": "not-it-at-all", "newPassword": "next-password-1"}
        )
        assert (wrong.status_code, wrong.json()["message"]) == (
            400,
            "the current password is wrong",
        )
        other = await hana.post(
            "/internal/security/users/admin/change_password", json={"newPassword": "hijacked-12345"}
        )
        assert other.status_code == 403
        ok = await hana.post(
            path, json={"password": USER_PASSWORD, "newPassword": "next-password-1"}
        )
        assert ok.status_code == 204
    async with http_client(app, httpx.BasicAuth("hana", "next-password-1")) as hana:
        assert (await hana.get("/internal/security/me")).status_code == 200


async def test_roles_api_round_trip_and_reserved_roles(client: httpx.AsyncClient) -> None:
    role = {"kibana": [{"base": [], "feature": {"actions": ["all"]}, "spaces": ["*"]}]}
    assert (await client.put("/api/security/role/ops", json=role)).status_code == 204
    listed = {r["name"]: r for r in (await client.get("/api/security/role")).json()}
    assert {
        "superuser",
        "connectors_admin",
        "connectors_user",
        "usage_viewer",
        "viewer",
        "ops",
    } <= set(listed)
    assert listed["viewer"]["metadata"] == {"_reserved": True}
    assert listed["ops"]["privileges"] == ["connectors:all", "connectors:read"]
    refused = await client.put("/api/security/role/superuser", json=role)
    assert (refused.status_code, refused.json()["message"]) == (
        400,
        "role [superuser] is reserved and cannot be modified",
    )
    assert (await client.delete("/api/security/role/viewer")).status_code == 400
    assert (await client.delete("/api/security/role/ops")).status_code == 204
    assert (await client.get("/api/security/role/ops")).status_code == 404


@pytest.mark.parametrize(
    ("role", "message"),
    [
        ({"kibana": [{"feature": {"actions": ["execute"]}}]}, "unknown privilege [execute]"),
        ({"elasticsearch": {"cluster": ["manage"]}}, "unknown privilege [manage]"),
        (
            {"elasticsearch": {"indices": [{"names": ["secrets"], "privileges": ["read"]}]}},
            "one index",
        ),
        ({"kibana": [{"feature": {"discover": ["all"]}}]}, "unknown feature"),
        ({"applications": []}, "[request body.applications]: definition for this key is missing"),
    ],
)
async def test_bad_roles_are_a_400_and_are_not_saved(
    client: httpx.AsyncClient, role: dict[str, object], message: str
) -> None:
    response = await client.put("/api/security/role/bad", json=role)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert (await client.get("/api/security/role/bad")).status_code == 404


async def test_a_role_given_to_a_user_then_deleted_grants_nothing(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    role = {"kibana": [{"feature": {"actions": ["read"]}, "spaces": ["*"]}]}
    await client.put("/api/security/role/temp", json=role)
    auth = await add_user(client, "ivan", "temp")
    async with http_client(app, auth) as ivan:
        assert (await ivan.get("/api/actions/connectors")).status_code == 200
        await client.delete("/api/security/role/temp")
        assert (await ivan.get("/api/actions/connectors")).status_code == 403


async def test_roles_from_the_config_file_are_usable_and_read_only(tmp_path: Path) -> None:
    role = {"kibana": [{"feature": {"actions": ["read"]}, "spaces": ["*"]}]}
    settings = make_settings(tmp_path / "data", **{"security.roles": {"team_runner": role}})
    async with api_client(settings) as admin:
        auth = await add_user(admin, "nora", "team_runner")
        assert (await admin.get("/api/actions/connectors", auth=auth)).status_code == 200
        refused = await admin.delete("/api/security/role/team_runner")
        assert refused.status_code == 400
        shown = (await admin.get("/api/security/role/team_runner")).json()
        assert shown["metadata"] == {"_reserved": True}


def test_a_bad_role_in_the_config_file_stops_start_up(tmp_path: Path) -> None:
    role = {"kibana": [{"feature": {"actions": ["fly"]}}]}
    settings = make_settings(tmp_path / "data", **{"security.roles": {"broken": role}})
    app = create_app(settings)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(
        ConfigurationError, match=r"security.roles.broken: .*unknown privilege \[fly\]"
    ):
        asyncio.run(start())

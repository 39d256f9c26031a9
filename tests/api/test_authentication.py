"""Nothing is open but the status and the login page; every bad credential is a clean 401."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from llmrelay.app import create_app
from tests.api.conftest import (
    USER_PASSWORD,
    add_user,
    api_key_header,
    create_api_key,
    create_connector,
)
from tests.components import fresh_postgres_database
from tests.conftest import TEST_ADMIN_PASSWORD, http_client, make_settings


async def test_status_and_login_page_are_open(anonymous_client: httpx.AsyncClient) -> None:
    assert (await anonymous_client.get("/api/status")).status_code == 200
    assert (await anonymous_client.get("/login")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/actions/connectors"),
        ("GET", "/api/actions/connector/nope"),
        ("POST", "/api/actions/connector/nope/_execute"),
        ("DELETE", "/api/actions/connector/nope"),
        ("GET", "/api/actions/connector_types"),
        ("GET", "/api/event_log/connector/nope/_find"),
        ("GET", "/internal/security/users"),
        ("GET", "/api/security/audit/_find"),
        ("POST", "/api/security/api_key"),
        ("GET", "/api/no-such-route"),
    ],
)
async def test_without_credentials_every_route_is_a_401_with_a_challenge(
    anonymous_client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await anonymous_client.request(method, path, json={})
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "missing authentication credentials",
    }
    challenges = response.headers.get_list("www-authenticate")
    assert any(c.startswith("Basic ") for c in challenges)
    assert "ApiKey" in challenges


async def test_a_page_without_a_session_redirects_to_the_login_page(
    anonymous_client: httpx.AsyncClient,
) -> None:
    response = await anonymous_client.get("/app/usage")
    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=/app/usage"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("Basic", "malformed Basic credentials: expected base64"),
        ("Basic %%%", "malformed Basic credentials: expected base64"),
        (f"Basic {_b64('no-colon')}", "malformed Basic credentials"),
        ("ApiKey not-base64!", "malformed ApiKey credentials: expected base64"),
        (f"ApiKey {_b64(':secret')}", "malformed ApiKey credentials"),
        ("Bearer abc", "unsupported authentication scheme; use Basic or ApiKey credentials"),
        ("Digest x", "unsupported authentication scheme; use Basic or ApiKey credentials"),
        (f"Basic {_b64('admin:wrong')}", "unable to authenticate with the provided credentials"),
        (f"Basic {_b64('ghost:whatever')}", "unable to authenticate with the provided credentials"),
        (
            f"ApiKey {_b64('unknown-id:secret')}",
            "unable to authenticate with the provided credentials",
        ),
    ],
)
async def test_bad_authorization_headers_are_a_401_that_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, authorization: str, message: str
) -> None:
    async with http_client(app, auth=None) as anonymous:
        response = await anonymous.post(
            "/api/actions/connector",
            headers={"authorization": authorization},
            json={"name": "x", "connector_type_id": ".gen-ai", "config": {}},
        )
    assert response.status_code == 401
    assert response.json()["message"].startswith(message)
    assert "www-authenticate" in response.headers
    assert (await client.get("/api/actions/connectors")).json() == []


async def test_unknown_user_and_wrong_password_read_the_same(
    anonymous_client: httpx.AsyncClient,
) -> None:
    wrong = await anonymous_client.get("/api/actions/connectors", auth=("admin", "nope-nope"))
    ghost = await anonymous_client.get("/api/actions/connectors", auth=("ghost", "nope-nope"))
    assert wrong.status_code == ghost.status_code == 401
    assert wrong.json() == ghost.json()


async def test_an_api_key_works_until_it_expires(client: httpx.AsyncClient) -> None:
    lasting = await create_api_key(client, name="lasting", expiration="1d")
    brief = await create_api_key(client, name="brief", expiration="300ms")
    assert set(lasting) == {"id", "name", "api_key", "encoded", "expiration"}
    assert (
        base64.b64decode(str(lasting["encoded"])).decode()
        == f"{lasting['id']}:{lasting['api_key']}"
    )
    for key in (lasting, brief):
        response = await client.get(
            "/api/actions/connectors", headers=api_key_header(key), auth=None
        )
        assert response.status_code == 200
    await asyncio.sleep(0.4)
    expired = await client.get("/api/actions/connectors", headers=api_key_header(brief), auth=None)
    assert expired.status_code == 401
    assert (
        await client.get("/api/actions/connectors", headers=api_key_header(lasting), auth=None)
    ).status_code == 200


async def test_an_invalidated_key_is_refused_at_once(client: httpx.AsyncClient) -> None:
    key = await create_api_key(client)
    assert (
        await client.get("/internal/security/me", headers=api_key_header(key), auth=None)
    ).status_code == 200
    response = await client.request("DELETE", "/api/security/api_key", json={"ids": [key["id"]]})
    assert response.json() == {
        "invalidated_api_keys": [key["id"]],
        "previously_invalidated_api_keys": [],
        "error_count": 0,
        "error_details": [],
    }
    assert (
        await client.get("/internal/security/me", headers=api_key_header(key), auth=None)
    ).status_code == 401
    again = await client.request("DELETE", "/api/security/api_key", json={"ids": [key["id"]]})
    assert again.json()["previously_invalidated_api_keys"] == [key["id"]]
    unknown = await client.request("DELETE", "/api/security/api_key", json={"ids": ["nope"]})
    assert unknown.status_code == 404
    empty = await client.request("DELETE", "/api/security/api_key", json={"ids": []})
    assert (empty.status_code, empty.json()["message"]) == (
        400,
        "[ids]: expected a non-empty array of API key ids",
    )


async def test_a_wrong_secret_for_a_real_key_id_is_refused(client: httpx.AsyncClient) -> None:
    key = await create_api_key(client)
    forged = _b64(f"{key['id']}:{'x' * 43}")
    response = await client.get(
        "/internal/security/me", headers={"authorization": f"ApiKey {forged}"}, auth=None
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "k", "expiration": "soon"}, "[expiration]: [soon] is not a positive duration"),
        ({"name": "k", "expiration": "0d"}, "[expiration]: [0d] is not a positive duration"),
        ({"name": " "}, "[name]: 1 to 1024 characters"),
        (
            {
                "name": "k",
                "role_descriptors": {"r": {"kibana": [{"feature": {"actions": ["own"]}}]}},
            },
            "unknown privilege [own]",
        ),
        (
            {"name": "k", "colour": "red"},
            "[request body.colour]: definition for this key is missing",
        ),
    ],
)
async def test_bad_api_key_requests_are_a_400_and_create_nothing(
    client: httpx.AsyncClient, body: dict[str, object], message: str
) -> None:
    response = await client.post("/api/security/api_key", json=body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert (await client.get("/api/security/api_key")).json() == {"api_keys": []}


async def test_keys_are_listed_without_their_secret(client: httpx.AsyncClient) -> None:
    key = await create_api_key(client, name="listed")
    listed = (await client.get("/api/security/api_key")).json()["api_keys"]
    assert [(k["id"], k["name"], k["username"], k["invalidated"]) for k in listed] == [
        (key["id"], "listed", "admin", False)
    ]
    assert str(key["api_key"]) not in str(listed)


async def test_an_api_key_cannot_create_keys(client: httpx.AsyncClient) -> None:
    key = await create_api_key(client)
    response = await client.post(
        "/api/security/api_key", json={"name": "child"}, headers=api_key_header(key), auth=None
    )
    assert response.status_code == 403


async def test_me_says_who_is_asking(client: httpx.AsyncClient) -> None:
    me = (await client.get("/internal/security/me")).json()
    assert (me["username"], me["roles"], me["authentication_type"]) == (
        "admin",
        ["superuser"],
        "basic",
    )


async def test_a_password_change_takes_effect_at_once_despite_the_cache(
    client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient
) -> None:
    alice = await add_user(client, "alice", "viewer")
    assert (await anonymous_client.get("/api/actions/connectors", auth=alice)).status_code == 200
    response = await client.post(
        "/internal/security/users/alice/change_password", json={"newPassword": "new-password-42"}
    )
    assert response.status_code == 204
    assert (await anonymous_client.get("/api/actions/connectors", auth=alice)).status_code == 401
    fresh = ("alice", "new-password-42")
    assert (await anonymous_client.get("/api/actions/connectors", auth=fresh)).status_code == 200


async def test_deleting_a_user_ends_their_credentials_and_keys(
    client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient
) -> None:
    bob = await add_user(client, "bob", "connectors_user")
    async with httpx.AsyncClient(
        transport=anonymous_client._transport,
        base_url="http://llmrelay.test",
        headers={"kbn-xsrf": "1"},
        auth=bob,
    ) as as_bob:
        key = await create_api_key(as_bob)
    assert (
        await anonymous_client.get("/internal/security/me", headers=api_key_header(key), auth=None)
    ).status_code == 200
    assert (await client.delete("/internal/security/users/bob")).status_code == 204
    assert (await anonymous_client.get("/internal/security/me", auth=bob)).status_code == 401
    assert (
        await anonymous_client.get("/internal/security/me", headers=api_key_header(key), auth=None)
    ).status_code == 401


async def test_the_admin_password_is_not_accepted_in_other_case(
    anonymous_client: httpx.AsyncClient,
) -> None:
    assert (
        await anonymous_client.get(
            "/internal/security/me", auth=("admin", TEST_ADMIN_PASSWORD.upper())
        )
    ).status_code == 401


async def test_connectors_still_work_with_an_api_key(client: httpx.AsyncClient) -> None:
    key = await create_api_key(client)
    cid = await create_connector(client, "http://127.0.0.1:9/v1/chat/completions")
    response = await client.get(
        f"/api/actions/connector/{cid}", headers=api_key_header(key), auth=None
    )
    assert response.status_code == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_new_user_with_a_deleted_users_name_inherits_none_of_their_credentials(
    backend: str, tmp_path: Path
) -> None:
    """Keys and sessions are bound to the user's immutable id, not the reusable name: the old
    ``bob``'s key and session must not come back with the new ``bob``'s privileges."""
    async with contextlib.AsyncExitStack() as stack:
        overrides: dict[str, object] = {}
        if backend == "postgresql":
            overrides["database.url"] = await stack.enter_async_context(fresh_postgres_database())
        app = create_app(make_settings(tmp_path / "data", **overrides))
        await stack.enter_async_context(app.router.lifespan_context(app))
        admin = await stack.enter_async_context(http_client(app))
        anonymous = await stack.enter_async_context(http_client(app, auth=None))
        bob = await add_user(admin, "bob", "connectors_user")
        async with http_client(app, bob) as as_bob:
            key = api_key_header(await create_api_key(as_bob, name="bob's"))
        login = await anonymous.post(
            "/internal/security/login",
            json={"params": {"username": "bob", "password": USER_PASSWORD}},
        )
        session = {"cookie": f"sid={login.cookies['sid']}"}
        assert (await anonymous.get("/internal/security/me", headers=key)).status_code == 200
        assert (await admin.delete("/internal/security/users/bob")).status_code == 204
        again = await admin.post(
            "/internal/security/users/bob", json={"password": USER_PASSWORD, "roles": ["superuser"]}
        )
        assert again.status_code == 200
        for headers in (key, session):
            refused = await anonymous.get("/internal/security/users", headers=headers)
            assert refused.status_code == 401, f"{headers}: {refused.status_code}"
        keys = (await admin.get("/api/security/api_key")).json()["api_keys"]
        assert [(k["name"], k["invalidated"]) for k in keys] == [("bob's", True)]

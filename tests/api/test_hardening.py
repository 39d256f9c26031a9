"""Throttled logins, the audit log, the first start, and no secret in any log or error body."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import time
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
from tests.conftest import ADMIN_AUTH, TEST_ADMIN_PASSWORD, http_client, make_settings
from tests.live import serve_in_thread
from tests.upstream import UpstreamServer

RUN = {
    "params": {
        "subAction": "run",
        "subActionParams": {"body": '{"messages":[{"role":"user","content":"hi"}]}'},
    }
}


def _from(app: Starlette, address: str) -> httpx.AsyncClient:
    """A client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def _timed_me(client: httpx.AsyncClient, auth: tuple[str, str]) -> tuple[int, float]:
    started = time.monotonic()
    response = await client.get("/internal/security/me", auth=auth)
    return response.status_code, time.monotonic() - started


async def test_bad_passwords_from_an_address_never_refuse_a_valid_api_key(
    client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient
) -> None:
    key = api_key_header(await create_api_key(client))
    for _ in range(3):
        wrong = await anonymous_client.get("/internal/security/me", auth=("admin", "guess-guess"))
        assert wrong.status_code == 401
    answer = await anonymous_client.get("/internal/security/me", headers=key)
    assert answer.status_code == 200, answer.text


async def test_the_right_password_gets_in_after_a_short_back_off(
    anonymous_client: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        wrong = await anonymous_client.get("/internal/security/me", auth=("admin", "guess-guess"))
        assert wrong.status_code == 401
    status, took_s = await _timed_me(anonymous_client, ("admin", TEST_ADMIN_PASSWORD))
    assert status == 200
    assert took_s >= 0.9  # held for the first back-off (1 s), then checked


async def test_one_bad_try_per_back_off_does_not_keep_admin_out(tmp_path: Path) -> None:
    """Someone failing as admin once per back-off used to refuse admin's own password forever."""
    settings = make_settings(
        tmp_path / "data",
        **{"security.login_throttle.free_attempts": 1, "security.login_throttle.max_delay_s": 1},
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        _from(app, "10.0.0.1") as attacker,
        _from(app, "10.0.0.2") as admin,
    ):
        for _ in range(3):
            assert (await _timed_me(attacker, ("admin", "guess-guess")))[0] == 401
            status, took_s = await _timed_me(admin, ("admin", TEST_ADMIN_PASSWORD))
            assert status == 200
            assert took_s < 1.5


async def test_failures_from_one_address_hold_every_user_name(
    anonymous_client: httpx.AsyncClient,
) -> None:
    for name in ("a1", "a2", "a3"):
        assert (await _timed_me(anonymous_client, (name, "x" * 9)))[0] == 401
    status, took_s = await _timed_me(anonymous_client, ("a4", "x" * 9))
    assert status == 401
    assert took_s >= 0.9


async def test_guesses_from_a_throttled_address_are_one_at_a_time(
    anonymous_client: httpx.AsyncClient,
) -> None:
    """Opening many connections does not multiply the guesses: one try per address at a time."""
    for name in ("a1", "a2", "a3"):
        assert (await _timed_me(anonymous_client, (name, "x" * 9)))[0] == 401
    answers = await asyncio.gather(
        *(anonymous_client.get("/internal/security/me", auth=(f"b{n}", "y" * 9)) for n in range(5))
    )
    assert sorted(answer.status_code for answer in answers) == [401, 429, 429, 429, 429]
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json()["message"].startswith("Too many failed logins from this address")
    assert int(refused.headers["retry-after"]) >= 1


async def test_the_audit_log_records_who_did_what_from_where(
    app: Starlette,
    client: httpx.AsyncClient,
    anonymous_client: httpx.AsyncClient,
    upstream: UpstreamServer,
) -> None:
    await anonymous_client.get("/internal/security/me", auth=("admin", "wrong-password"))
    auth = await add_user(client, "jill", "connectors_user")
    cid = await create_connector(client, f"{upstream.base_url}/v1/chat/completions")
    async with http_client(app, auth) as jill:
        await jill.post(f"/api/actions/connector/{cid}/_execute", json=RUN)
        await jill.delete(f"/api/actions/connector/{cid}")
        assert (await jill.get("/api/security/audit/_find")).status_code == 403
    found = (await client.get("/api/security/audit/_find", params={"per_page": 100})).json()
    events = {
        (e["event"]["action"], e["event"]["outcome"], (e["user"] or {}).get("name")): e
        for e in found["data"]
    }
    for expected in [
        ("authentication_failed", "failure", "admin"),
        ("user_create", "success", "admin"),
        ("connector_create", "success", "admin"),
        ("connector_execute", "success", "jill"),
        ("access_denied", "failure", "jill"),
    ]:
        assert expected in events, expected
    execute = events[("connector_execute", "success", "jill")]
    assert execute["target"] == cid
    assert execute["source"] == {"address": "127.0.0.1"}
    assert execute["authentication"] == {"type": "basic"}
    only = await client.get("/api/security/audit/_find", params={"action": "user_create"})
    assert {e["target"] for e in only.json()["data"]} == {"admin", "jill"}  # admin: first start
    bad = await client.get("/api/security/audit/_find", params={"colour": "red"})
    assert bad.status_code == 400


async def test_the_first_start_creates_admin_and_shows_a_generated_password_once(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "data", **{"security.admin_password": None})
    heard: list[str] = []
    for _ in range(2):  # the second start finds a user and announces nothing
        app = create_app(settings, announce=heard.append)
        async with app.router.lifespan_context(app):
            stored = await app.state.services.security._store.get_user("admin")
    assert len(heard) == 1
    password = heard[0].split("password ")[1].split(" ")[0]
    assert stored is not None
    assert stored.roles == ("superuser",)
    assert stored.password_hash.startswith("$argon2id$")
    assert password not in stored.password_hash
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        http_client(app, httpx.BasicAuth("admin", password)) as http,
    ):
        assert (await http.get("/internal/security/me")).status_code == 200


async def test_no_secret_reaches_a_log_line_or_an_error_body(
    tmp_path: Path,
    upstream: UpstreamServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A whole flow at debug level: logins good and bad, keys, sessions, connectors, runs."""
    connector_secret = "sk-connector-secret-4f9a2c"
    settings = make_settings(tmp_path / "data", log_level="debug")
    bodies: list[str] = []
    secrets = [TEST_ADMIN_PASSWORD, USER_PASSWORD, connector_secret, "wrong-password-77"]
    caplog.set_level(logging.DEBUG)
    app = create_app(settings)
    async with app.router.lifespan_context(app), http_client(app) as admin:
        auth = await add_user(admin, "kate", "connectors_admin")
        async with http_client(app, auth) as kate:
            created = await create_api_key(kate, name="kate's")
            secrets += [str(created["api_key"]), str(created["encoded"])]
            key = api_key_header(created)
            cid = await create_connector(
                kate, f"{upstream.base_url}/v1/chat/completions", api_key=connector_secret
            )
            async with http_client(app, auth=None) as anonymous:
                for response in [
                    await anonymous.post(
                        f"/api/actions/connector/{cid}/_execute", json=RUN, headers=key
                    ),
                    await anonymous.get(
                        "/api/actions/connectors", auth=("kate", "wrong-password-77")
                    ),
                    await anonymous.get(
                        "/api/actions/connectors",
                        headers={"authorization": f"ApiKey {created['encoded']}x"},
                    ),
                    await anonymous.post(
                        "/internal/security/login",
                        json={"params": {"username": "kate", "password": USER_PASSWORD}},
                    ),
                    await kate.post(
                        "/internal/security/users/kate/change_password",
                        json={"password": "wrong-password-77", "newPassword": "x"},
                    ),
                    await kate.put(
                        f"/api/actions/connector/{cid}",
                        json={
                            "name": "n",
                            "config": {"apiProvider": "OpenAI", "apiUrl": "not a url"},
                            "secrets": {"apiKey": connector_secret},
                        },
                    ),
                    await admin.post(
                        "/internal/security/users/kate",
                        json={"password": connector_secret[:5], "roles": []},
                    ),
                ]:
                    bodies.append(response.text)
                    if "set-cookie" in response.headers:
                        secrets.append(response.cookies["sid"])
                        logout = await anonymous.post(
                            "/api/security/logout",
                            headers={"cookie": f"sid={response.cookies['sid']}"},
                        )
                        assert logout.status_code == 204
            await app.state.services.audit.flush()
            audit = (await admin.get("/api/security/audit/_find", params={"per_page": 1000})).text
    logs = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    captured = capfd.readouterr()
    assert len(secrets) >= 7  # the session id was seen
    for secret in secrets:
        assert secret not in logs, "a secret is in the logs"
        assert secret not in captured.out + captured.err, "a secret reached stdout/stderr"
        assert secret not in audit, "a secret is in the audit log"
        for body in bodies:
            assert secret not in body, f"a secret is in an error body: {body[:80]}"


async def test_failures_for_one_user_slow_them_from_every_address(app: Starlette) -> None:
    """Spreading guesses over addresses does not help: the user name is held too."""
    for number in range(3):
        async with _from(app, f"10.0.0.{number}") as attacker:
            assert (await _timed_me(attacker, ("admin", "guess-guess")))[0] == 401
    async with _from(app, "10.0.0.99") as fresh:
        status, took_s = await _timed_me(fresh, ("admin", "guess-again"))
        assert (status, took_s >= 0.9) == (401, True)
        status, took_s = await _timed_me(fresh, ("ghost", "guess-again"))
        assert (status, took_s < 0.9) == (401, True)  # that name and address are not held


async def test_a_success_clears_the_record(anonymous_client: httpx.AsyncClient) -> None:
    for _ in range(2):
        await anonymous_client.get("/internal/security/me", auth=("admin", "guess-guess"))
    ok = await anonymous_client.get("/internal/security/me", auth=("admin", TEST_ADMIN_PASSWORD))
    assert ok.status_code == 200
    for _ in range(2):
        wrong = await anonymous_client.get("/internal/security/me", auth=("admin", "guess-2"))
        assert wrong.status_code == 401  # counting started again from zero


async def test_a_password_hash_is_upgraded_when_the_cost_settings_change(tmp_path: Path) -> None:
    cheap = make_settings(tmp_path / "data")
    app = create_app(cheap)
    async with app.router.lifespan_context(app):
        before = await app.state.services.security._store.get_user("admin")
    dearer = make_settings(tmp_path / "data", **{"security.password_hashing.time_cost": 2})
    app = create_app(dearer)
    async with app.router.lifespan_context(app), http_client(app) as http:
        assert (await http.get("/internal/security/me")).status_code == 200
        after = await app.state.services.security._store.get_user("admin")
    assert before is not None
    assert after is not None
    assert ",t=1," in before.password_hash
    assert ",t=2," in after.password_hash


async def test_a_client_leaving_mid_body_is_no_error_and_the_server_goes_on(
    tmp_path: Path, upstream: UpstreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    """wrk stopping, or a client timing out, must not fill the log with tracebacks."""
    caplog.set_level(logging.DEBUG)
    app = create_app(make_settings(tmp_path / "data"))
    with serve_in_thread(app) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(
            base_url=base_url, auth=ADMIN_AUTH, headers={"kbn-xsrf": "true"}
        ) as admin:
            cid = await create_connector(admin, f"{upstream.base_url}/v1/chat/completions")
            token = base64.b64encode(f"admin:{TEST_ADMIN_PASSWORD}".encode()).decode()
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(
                    f"POST /api/actions/connector/{cid}/_execute HTTP/1.1\r\n"
                    f"host: 127.0.0.1\r\nauthorization: Basic {token}\r\nkbn-xsrf: true\r\n"
                    "content-type: application/json\r\ncontent-length: 500\r\n\r\n"
                    '{"params":'.encode()
                )
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.2)
            after = await admin.post(f"/api/actions/connector/{cid}/_execute", json=RUN)
    assert after.json()["status"] == "ok"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert "client left before sending its whole request" in caplog.text


async def test_concurrent_requests_with_the_same_new_credentials_verify_them_once(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """A busy Basic client whose cache entry expires must not cost an argon2 hash per request."""
    auth = await add_user(client, "kate", "connectors_user")
    async with http_client(app, auth) as kate:
        answers = await asyncio.gather(*(kate.get("/internal/security/me") for _ in range(20)))
    assert {answer.status_code for answer in answers} == {200}
    await app.state.services.audit.flush()
    found = await client.get(
        "/api/security/audit/_find",
        params={"action": "authentication_success", "user": "kate"},
    )
    assert found.json()["total"] == 1


async def test_every_login_path_records_peer_and_trusted_forwarded_address(
    tmp_path: Path,
) -> None:
    """Basic, the JSON login, the login form and the OpenAI-compatible routes all read the
    addresses the same way: X-Forwarded-For only from a trusted proxy, the peer always."""
    settings = make_settings(tmp_path / "data", **{"server.trusted_proxies": ["10.0.0.1"]})
    app = create_app(settings)
    forged = {"x-forwarded-for": "192.0.2.66, 10.0.0.1"}
    async with app.router.lifespan_context(app):
        for peer in ("10.0.0.1", "10.0.0.2"):
            async with _from(app, peer) as http:
                headers = {**forged, "kbn-xsrf": "1"}
                await http.get("/internal/security/me", auth=("u1", "x" * 9), headers=headers)
                await http.post(
                    "/internal/security/login",
                    json={"params": {"username": "u2", "password": "x" * 9}},
                    headers=headers,
                )
                await http.post(
                    "/login",
                    content=b"username=u3&password=xxxxxxxxx",
                    headers={**headers, "origin": "http://t", "host": "t"},
                )
                await http.post(
                    "/v1/chat/completions",
                    json={"messages": []},
                    headers={**headers, "authorization": "Bearer bm86c2VjcmV0"},
                )
        async with http_client(app) as admin:
            await app.state.services.audit.flush()
            found = await admin.get(
                "/api/security/audit/_find",
                params={"action": "authentication_failed", "per_page": 100},
            )
    seen = sorted(
        (e["source"]["address"], (e["network"] or {}).get("forwarded_ip"), e["user"] is None)
        for e in found.json()["data"]
    )
    assert seen == sorted(
        [("10.0.0.1", "192.0.2.66", anonymous) for anonymous in (False, False, False, True)]
        + [("10.0.0.2", None, anonymous) for anonymous in (False, False, False, True)]
    )

"""UI sessions over a real socket: the cookie's attributes, timeouts, logout, forms, headers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.settings import Settings
from tests.conftest import ADMIN_USERNAME, TEST_ADMIN_PASSWORD, make_settings
from tests.live import serve_in_thread

LOGIN = {
    "providerType": "basic",
    "providerName": "basic",
    "currentURL": "/app/usage",
    "params": {"username": ADMIN_USERNAME, "password": TEST_ADMIN_PASSWORD},
}


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


def test_login_sets_a_strict_http_only_cookie_that_authenticates(live_url: str) -> None:
    with httpx.Client(base_url=live_url, headers={"kbn-xsrf": "1"}) as browser:
        response = browser.post("/internal/security/login", json=LOGIN)
        assert response.status_code == 200
        assert response.json() == {"location": "/app/usage"}
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("sid=")
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "samesite", "path", "max-age"} <= attributes
        assert "samesite=strict" in cookie.lower()
        assert "secure" not in attributes  # plain HTTP here; see the HTTPS test
        me = browser.get("/internal/security/me").json()
        assert (me["username"], me["authentication_type"]) == ("admin", "session")


def test_a_session_still_needs_kbn_xsrf_to_change_anything(live_url: str) -> None:
    with httpx.Client(base_url=live_url) as browser:
        browser.post("/internal/security/login", json=LOGIN, headers={"kbn-xsrf": "1"})
        body = {"name": "x", "connector_type_id": ".gen-ai", "config": {}}
        refused = browser.post("/api/actions/connector", json=body)
        assert (refused.status_code, refused.json()["message"]) == (
            400,
            "Request must contain a kbn-xsrf header.",
        )
        assert browser.get("/api/actions/connectors").json() == []


def test_login_without_kbn_xsrf_is_refused(live_url: str) -> None:
    response = httpx.post(f"{live_url}/internal/security/login", json=LOGIN)
    assert response.status_code == 400


def test_logout_ends_the_session_everywhere(live_url: str) -> None:
    with httpx.Client(base_url=live_url, headers={"kbn-xsrf": "1"}) as browser:
        browser.post("/internal/security/login", json=LOGIN)
        session_id = browser.cookies["sid"]
        assert browser.post("/api/security/logout").status_code == 204
    replayed = httpx.get(
        f"{live_url}/internal/security/me", headers={"cookie": f"sid={session_id}"}
    )
    assert replayed.status_code == 401


def test_a_wrong_password_sets_no_cookie(live_url: str) -> None:
    wrong = {**LOGIN, "params": {"username": ADMIN_USERNAME, "password": "not-the-password"}}
    response = httpx.post(
        f"{live_url}/internal/security/login", json=wrong, headers={"kbn-xsrf": "1"}
    )
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "timeouts",
    [{"security.session.idle_timeout_s": 0.5}, {"security.session.lifespan_s": 0.5}],
)
def test_sessions_end_after_their_timeouts(tmp_path: object, timeouts: dict[str, float]) -> None:
    from pathlib import Path

    settings = make_settings(Path(str(tmp_path)) / "data", **timeouts)
    with (
        serve_in_thread(create_app(settings)) as url,
        httpx.Client(base_url=url, headers={"kbn-xsrf": "1"}) as browser,
    ):
        browser.post("/internal/security/login", json=LOGIN)
        session_id = browser.cookies["sid"]
        assert browser.get("/internal/security/me").status_code == 200
        time.sleep(0.7)
        # sent by hand: the server, not the cookie's Max-Age, must end the session
        late = httpx.get(f"{url}/internal/security/me", headers={"cookie": f"sid={session_id}"})
        assert late.status_code == 401


def test_the_login_form_needs_a_same_origin_post(live_url: str) -> None:
    form = {"username": ADMIN_USERNAME, "password": TEST_ADMIN_PASSWORD, "next": "/app/usage"}
    with httpx.Client(base_url=live_url) as browser:
        cross = browser.post("/login", data=form, headers={"origin": "https://evil.example"})
        assert cross.status_code == 403
        assert "sid" not in browser.cookies
        missing = browser.post("/login", data=form)
        assert missing.status_code == 403
        ok = browser.post("/login", data=form, headers={"origin": live_url})
        assert (ok.status_code, ok.headers["location"]) == (303, "/app/usage")
        assert browser.get("/internal/security/me").status_code == 200
        out = browser.post("/logout", headers={"origin": live_url})
        assert (out.status_code, out.headers["location"]) == (303, "/login")
        assert browser.get("/internal/security/me").status_code == 401


def test_the_login_form_refuses_open_redirects_and_bad_passwords(live_url: str) -> None:
    headers = {"origin": live_url}
    with httpx.Client(base_url=live_url, headers=headers) as browser:
        form = {
            "username": ADMIN_USERNAME,
            "password": TEST_ADMIN_PASSWORD,
            "next": "//evil.example/",
        }
        assert browser.post("/login", data=form).headers["location"] == "/"
        bad = browser.post("/login", data={**form, "password": "wrong-password"})
        assert bad.status_code == 401
        assert "Wrong username or password." in bad.text


def test_the_login_page_has_a_strict_csp_and_no_inline_script(live_url: str) -> None:
    page = httpx.get(f"{live_url}/login?next=%22%3E%3Cscript%3E")
    csp = page.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src  # inline styles are allowed (plotly), never scripts
    assert "http" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"  # no-referrer makes Origin null
    assert "<script" not in page.text
    assert "style=" not in page.text
    assert 'value="/"' in page.text  # the injected next= is dropped, not echoed


def test_the_api_sends_no_cors_headers_unless_configured(live_url: str) -> None:
    preflight = httpx.options(
        f"{live_url}/api/actions/connectors",
        headers={"origin": "https://evil.example", "access-control-request-method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    got = httpx.get(f"{live_url}/api/status", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in got.headers


def test_cors_allows_only_the_configured_origin(tmp_path: object) -> None:
    from pathlib import Path

    settings = make_settings(
        Path(str(tmp_path)) / "data",
        **{"server.cors.enabled": True, "server.cors.allow_origin": ["https://app.example"]},
    )
    with serve_in_thread(create_app(settings)) as url:
        allowed = httpx.get(f"{url}/api/status", headers={"origin": "https://app.example"})
        other = httpx.get(f"{url}/api/status", headers={"origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


def test_the_login_form_accepts_the_public_origin_behind_a_proxy(tmp_path: object) -> None:
    from pathlib import Path

    settings = make_settings(
        Path(str(tmp_path)) / "data", **{"server.public_base_url": "https://relay.example.com/"}
    )
    form = {"username": ADMIN_USERNAME, "password": TEST_ADMIN_PASSWORD}
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url) as browser:
        proxied = browser.post("/login", data=form, headers={"origin": "https://relay.example.com"})
        assert proxied.status_code == 303
        other = browser.post("/login", data=form, headers={"origin": "https://example.com"})
        assert other.status_code == 403


@pytest.mark.parametrize("url", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_json_login_never_redirects_off_site(live_url: str, url: str) -> None:
    response = httpx.post(
        f"{live_url}/internal/security/login",
        json={**LOGIN, "currentURL": url},
        headers={"kbn-xsrf": "1"},
    )
    assert response.json() == {"location": "/"}

"""The connector pages in a real Chromium, against the real test upstream: for each provider
create → test (plain and streamed) → edit → usage dashboard → delete; the rules checked as the
user types and by the server; what a user without ``connectors:all`` or the usage privileges
sees; and no request to another origin.

``LLMRELAY_WRITE_SCREENSHOTS=docs/images`` also saves the screenshots shown in the README.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page

from llmrelay.connector_types.openai import DEFAULT_MODEL
from llmrelay.connector_types.openai.providers import OPENAI_CHAT_COMPLETIONS_URL
from llmrelay.settings import Settings
from tests.api.conftest import USER_PASSWORD, add_user, create_connector
from tests.conftest import ADMIN_AUTH, UPSTREAM_KEY, make_settings
from tests.transport.certificates import issue, make_ca
from tests.ui.browser import Watched, chromium, log_in, served
from tests.upstream import StreamDelay, UpstreamServer

ANSWER = "Hello! You said: Hello world"


async def snap(page: Page, name: str) -> None:
    """Save the page for the README when ``LLMRELAY_WRITE_SCREENSHOTS`` names a folder."""
    folder = os.environ.get("LLMRELAY_WRITE_SCREENSHOTS")
    if folder:
        await page.screenshot(path=str(Path(folder) / name), full_page=True)


async def heading(page: Page) -> str:
    return (await page.inner_text("h1")).strip()


def api(base: str, auth: httpx.Auth = ADMIN_AUTH) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, headers={"kbn-xsrf": "true"}, auth=auth)


async def run_test(page: Page, *, stream: bool) -> None:
    runs = int(await page.get_attribute("#test-panel", "data-runs") or 0)
    await page.set_checked("#test-stream", stream)
    await page.click("#test-run")
    await page.wait_for_selector(f"#test-panel[data-runs='{runs + 1}']")


PROVIDERS = {
    "OpenAI": lambda upstream: upstream.chat_completions_url,
    "Azure OpenAI": lambda upstream: upstream.azure_url(),
    "Other": lambda upstream: upstream.chat_completions_url,
}


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_create_test_edit_dashboard_delete(
    provider: str, settings: Settings, upstream: UpstreamServer
) -> None:
    async with served(settings) as (app, base), chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        watched = Watched(page)
        await log_in(page, base, "/", landing="/app/connectors")
        assert await page.is_visible("#empty-state")
        await snap(page, "connectors-empty.png")
        await page.click("#create-connector")
        await page.click("#connector-types a:has-text('OpenAI')")
        await page.wait_for_selector("#connector-form[data-ready='true']")
        # the spec's defaults, from the Python constants
        assert await page.input_value("#field-apiUrl") == OPENAI_CHAT_COMPLETIONS_URL
        assert await page.input_value("#field-defaultModel") == DEFAULT_MODEL

        await page.check(f"input[name=variant][value='{provider}']")
        if provider == "Azure OpenAI":
            assert await page.is_hidden("#field-defaultModel")
            assert "api-version" in (await page.text_content("#hint-apiUrl") or "")
        if provider == "Other":
            assert await page.input_value("#field-apiUrl") == ""  # OpenAI's default is gone
            assert "http://localhost:1234/v1/chat/completions" in (
                await page.text_content("#hint-apiUrl") or ""
            )
            assert await page.is_visible("#field-certificateData")
            await page.fill("#field-defaultModel", "local-model")
        else:
            assert await page.is_hidden("#field-certificateData")
        await page.fill("#field-name", f"{provider} relay")
        await page.fill("#field-apiUrl", PROVIDERS[provider](upstream))
        await page.fill("#field-apiKey", UPSTREAM_KEY)
        await page.click("#add-header")
        await page.fill(".header-row .header-key", "X-Team")
        await page.fill(".header-row .header-value", "search")
        if provider == "OpenAI":
            await snap(page, "connector-create.png")
        await page.click("#save")
        await page.wait_for_url(re.compile(rf"{re.escape(base)}/app/connectors/(?!new)[^/?]+$"))
        connector_id = page.url.rsplit("/", 1)[1]
        assert await heading(page) == f"{provider} relay"
        config = await page.text_content("#connector-config") or ""
        assert '"X-Team": "search"' in config
        assert f'"apiProvider": "{provider}"' in config

        if provider == "OpenAI":
            await page.click("nav[aria-label=Main] >> text=Connectors")
            row = page.locator(f"tr[data-id='{connector_id}']")
            assert (await row.inner_text()).split("\t")[1:] == [
                "OpenAI",
                "OpenAI",
                f"127.0.0.1:{upstream.port}",
                DEFAULT_MODEL,
            ]
            await snap(page, "connectors.png")
            await row.locator("a").click()
            await page.wait_for_selector("#test-panel[data-ready='true']")
        assert "Hello world" in await page.input_value("#test-body")
        await run_test(page, stream=False)
        assert await page.text_content("#test-answer") == ANSWER
        assert await page.is_hidden("#test-error")
        assert upstream.requests[-1].headers["x-team"] == "search"

        upstream.queue(StreamDelay(0.05))
        await page.evaluate(
            """() => { window.seen = []; new MutationObserver(() => window.seen.push(
                document.getElementById('test-answer').textContent)).observe(
                document.getElementById('test-answer'), {childList: true, characterData: true,
                subtree: true}); }"""
        )
        await run_test(page, stream=True)
        assert await page.text_content("#test-answer") == ANSWER
        seen = await page.evaluate("window.seen.filter(t => t)")
        assert len(seen) >= 4, seen  # token by token, not all at once
        assert seen[0] != ANSWER
        assert upstream.requests[-1].json["stream"] is True  # type: ignore[index]
        if provider == "OpenAI":
            await snap(page, "connector-test.png")

        await page.click("#edit-connector")
        await page.wait_for_selector("#connector-form[data-ready='true']")
        assert await page.input_value("#field-apiKey") == ""  # secrets are never shown back
        assert await page.input_value("#field-apiUrl") == PROVIDERS[provider](upstream)
        assert await page.input_value(".header-row .header-key") == "X-Team"
        await page.fill("#field-name", f"{provider} relay, renamed")
        await page.click(".remove-header")
        await page.click("#save")  # the API key left empty: the stored one is kept
        await page.wait_for_url(f"{base}/app/connectors/{connector_id}")
        assert await heading(page) == f"{provider} relay, renamed"
        assert "X-Team" not in (await page.text_content("#connector-config") or "")
        await run_test(page, stream=False)  # the upstream answers only the kept key
        assert await page.text_content("#test-answer") == ANSWER

        await app.state.services.flush_events()  # the writer batches; the dashboard reads it
        await page.click("#usage-link")
        await page.wait_for_url(f"{base}/app/connectors/{connector_id}/usage")
        await page.wait_for_selector("#charts[data-drawn='true']", timeout=20_000)
        assert await page.text_content("#executions") == "3"

        await page.go_back()
        await page.click("#delete-connector")
        assert await page.is_visible("#delete-dialog")
        await page.keyboard.press("Escape")  # cancelled: nothing happens
        assert await page.is_hidden("#delete-dialog")
        await page.click("#delete-connector")
        await page.click("#delete-confirm")
        await page.wait_for_url(f"{base}/app/connectors")
        assert await page.is_visible("#empty-state")

    assert watched.elsewhere(base) == []
    assert watched.errors == []


async def test_a_failing_provider_shows_its_own_message(
    settings: Settings, upstream: UpstreamServer
) -> None:
    async with served(settings) as (_, base), chromium() as browser:
        async with api(base) as client:
            connector_id = await create_connector(
                client, upstream.chat_completions_url, api_key="sk-wrong"
            )
        page = await browser.new_page()
        await log_in(page, base, f"/app/connectors/{connector_id}")
        for stream in (False, True):
            await run_test(page, stream=stream)
            assert await page.is_visible("#test-error")
            text = await page.text_content("#test-error") or ""
            assert "an error occurred while running the action" in text
            assert "Incorrect API key provided" in text  # the provider's service_message
        assert await page.is_hidden("#test-result")
        await page.fill("#test-body", "{not json")
        assert "not valid JSON" in (await page.text_content("#test-body-error") or "")


async def test_rules_are_checked_as_the_user_types_and_by_the_server(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    settings = make_settings(tmp_path / "data", **{"actions.allowed_hosts": ["127.0.0.1"]})
    ca = make_ca()
    client = issue(ca, "llmrelay ui test", client=True)
    async with served(settings) as (_, base), chromium() as browser:
        page = await browser.new_page(viewport={"width": 1000, "height": 900})
        watched = Watched(page)
        await log_in(page, base, "/app/connectors/new?type=.gen-ai")  # back with its query
        await page.wait_for_selector("#connector-form[data-ready='true']")
        await page.fill("#field-apiUrl", "")
        assert await page.text_content("#error-apiUrl") == "URL is required."
        assert await page.get_attribute("#field-apiUrl", "aria-invalid") == "true"
        await page.fill("#field-apiUrl", "ftp://files.example")
        assert await page.text_content("#error-apiUrl") == "URL Error: Invalid protocol"
        await page.fill("#field-apiUrl", "not a url")
        assert await page.text_content("#error-apiUrl") == "URL Error: Invalid URL"
        await page.click("#add-header")
        await page.fill(".header-row .header-key", "Bad Header")
        assert "not a valid HTTP header name" in (await page.text_content("#error-headers") or "")
        await page.click(".remove-header")
        assert await page.text_content("#error-headers") == ""

        await page.check("input[name=variant][value='Other']")
        await page.fill("#field-certificateData", "just text")
        error = await page.text_content("#error-certificateData") or ""
        assert '"-----BEGIN CERTIFICATE-----"' in error
        await page.fill("#field-certificateData", client.certificate_pem)  # pasted
        assert await page.text_content("#error-certificateData") == (
            "Client certificate (PEM) needs Client private key (PEM) too."
        )
        await page.click("#save")  # refused on the page: nothing is sent
        assert await page.text_content("#form-error") == "Correct the marked fields."
        assert await page.text_content("#error-name") == "Connector name is required."
        assert await page.text_content("#error-defaultModel") == "Default model is required."
        assert await page.text_content("#error-apiKey") == ""  # PKI instead of an API key

        # the server's own rule: a host outside actions.allowed_hosts
        await page.fill("#field-name", "Elsewhere")
        await page.fill("#field-defaultModel", "local-model")
        await page.fill("#field-apiUrl", "http://llm.example:1234/v1/chat/completions")
        for target, name, pem in (
            ("privateKeyData", "client.key", client.key_pem),
            ("caData", "ca.crt", ca.certificate_pem),
        ):  # chosen as files
            await page.set_input_files(
                f".pem-file[data-target='field-{target}']",
                files=[{"name": name, "mimeType": "text/plain", "buffer": pem.encode()}],
            )
            await page.wait_for_function(
                f"() => document.getElementById('field-{target}').value.includes('BEGIN')"
            )
        await page.click("#save")
        await page.wait_for_selector("#form-error:not([hidden])")
        message = (
            "error validating action type config: Error configuring OpenAI action: Error: "
            'error validating url: target url "http://llm.example:1234/v1/chat/completions" '
            "is not added to the Kibana config xpack.actions.allowedHosts"
        )
        await page.wait_for_function(
            "() => document.getElementById('form-error').textContent.includes('allowedHosts')"
        )
        assert await page.text_content("#form-error") == message
        assert await page.text_content("#error-apiUrl") == message  # next to the field it names
        await snap(page, "connector-validation.png")

        # PEM files are sent base64-encoded: the server decodes them and accepts the connector
        await page.fill("#field-apiUrl", upstream.chat_completions_url)
        await page.click("#save-and-test")
        await page.wait_for_timeout(300)
        assert await page.is_hidden("#form-error"), await page.text_content("#form-error")
        await page.wait_for_url(re.compile(rf"{re.escape(base)}/app/connectors/(?!new)[^/?]+$"))
        assert await heading(page) == "Elsewhere"
        await page.wait_for_selector("#test-panel[data-ready='true']")
        assert await page.evaluate("() => document.activeElement.id") == "test-body"
    assert watched.elsewhere(base) == []
    # the browser reports the server's 400, and nothing else
    assert watched.errors == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]


@pytest.mark.parametrize(
    ("role", "sees_usage"), [("connectors_user", False), ("viewer", False), ("usage_viewer", True)]
)
async def test_a_user_without_the_privileges_sees_no_controls(
    role: str, sees_usage: bool, settings: Settings, upstream: UpstreamServer
) -> None:
    async with served(settings) as (_, base), chromium() as browser:
        async with api(base) as client:
            connector_id = await create_connector(client, upstream.chat_completions_url)
            await add_user(client, "someone", role)
        page = await browser.new_page(viewport={"width": 360, "height": 740})
        watched = Watched(page)
        await log_in(page, base, "/app/connectors", "someone", USER_PASSWORD)
        assert await page.locator("#connectors-table tbody tr").count() == 1
        assert await page.locator("#create-connector").count() == 0
        await page.click(f"tr[data-id='{connector_id}'] a")
        await page.wait_for_url(f"{base}/app/connectors/{connector_id}")
        for control in ("#edit-connector", "#delete-connector"):
            assert await page.locator(control).count() == 0
        assert await page.locator("#usage-link").count() == (1 if sees_usage else 0)
        await run_test(page, stream=True)  # connectors:read runs connectors
        assert await page.text_content("#test-answer") == ANSWER
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the page is {width} px wide on a 360 px screen"
        assert watched.errors == []
        response = await page.goto(f"{base}/app/connectors/new")
        assert response is not None
        assert response.status == 403
        assert "connectors:all" in (await page.text_content("#page-error") or "")
    assert watched.elsewhere(base) == []


async def tab_to(page: Page, selector: str, presses: int = 40) -> None:
    """Press Tab until ``selector`` has the focus, as a keyboard user would reach it."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"() => document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"{selector} cannot be reached with Tab")


async def test_keyboard_only_create_run_streamed_and_delete(
    settings: Settings, upstream: UpstreamServer
) -> None:
    async with served(settings) as (_, base), chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        watched = Watched(page)
        await log_in(page, base, "/app/connectors")
        await tab_to(page, "#create-connector")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{base}/app/connectors/new")
        await tab_to(page, "#connector-types a")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#connector-form[data-ready='true']")
        await tab_to(page, "#field-name")
        await page.keyboard.type("Keyboard relay")
        await tab_to(page, "input[name=variant]:checked")
        await page.keyboard.press("ArrowDown")  # Azure OpenAI
        assert await page.is_hidden("#field-defaultModel")
        await page.keyboard.press("ArrowUp")  # back to OpenAI: its defaults return
        assert await page.input_value("#field-defaultModel") == DEFAULT_MODEL
        await tab_to(page, "#field-apiUrl")
        await page.keyboard.press("Control+A")
        await page.keyboard.type(upstream.chat_completions_url)
        await tab_to(page, "#field-apiKey")
        await page.keyboard.type(UPSTREAM_KEY)
        await tab_to(page, "#save")
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(rf"{re.escape(base)}/app/connectors/(?!new)[^/?]+$"))
        await page.wait_for_selector("#test-panel[data-ready='true']")

        await tab_to(page, "#test-stream")
        await page.keyboard.press("Space")
        await tab_to(page, "#test-run")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#test-panel[data-runs='1']")
        assert await page.text_content("#test-answer") == ANSWER
        assert int(await page.get_attribute("#test-panel", "data-streamed") or 0) > 3

        await page.focus("h1")
        await tab_to(page, "#delete-connector")
        await page.keyboard.press("Enter")
        assert await page.evaluate("() => document.activeElement.id") == "delete-cancel"
        await page.keyboard.press("Tab")
        assert await page.evaluate("() => document.activeElement.id") == "delete-confirm"
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{base}/app/connectors")
        assert await page.is_visible("#empty-state")
    assert watched.elsewhere(base) == []
    assert watched.errors == []


async def test_deleting_a_preconfigured_connector_shows_the_reason(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    declared = {
        "name": "Declared",
        "actionTypeId": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url},
        "secrets": {"apiKey": UPSTREAM_KEY},
    }
    settings = make_settings(
        tmp_path / "data", **{"actions.preconfigured": {"declared-llm": declared}}
    )
    async with served(settings) as (_, base), chromium() as browser:
        page = await browser.new_page()
        await log_in(page, base, "/app/connectors/declared-llm")
        assert await page.locator("#edit-connector").count() == 0
        await run_test(page, stream=False)  # a preconfigured connector runs
        assert await page.text_content("#test-answer") == ANSWER
        await page.click("#delete-connector")
        await page.click("#delete-confirm")
        await page.wait_for_selector("#delete-error:not([hidden])")
        assert await page.text_content("#delete-error") == (
            "Not deleted: Preconfigured action declared-llm is not allowed to delete."
        )
        await page.click("#delete-cancel")
        assert page.url == f"{base}/app/connectors/declared-llm"

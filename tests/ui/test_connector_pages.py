"""The connector pages as the server renders them: what each privilege shows, the form's
defaults from the Python constants, search and sorting, and no inline script."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from starlette.applications import Starlette

from llmrelay.connector_types.openai import DEFAULT_MODEL
from llmrelay.connector_types.openai.providers import OPENAI_CHAT_COMPLETIONS_URL
from llmrelay.storage import tables
from tests.api.conftest import add_user, create_connector
from tests.conftest import UPSTREAM_KEY, api_client, http_client, make_settings
from tests.ui.test_usage_pages import Page

PAGES = ("/app/connectors", "/app/connectors/new", "/app/connectors/new?type=.gen-ai")


def scripts(page: Page) -> list[str]:
    return [str(s.get("src") or "").split("?")[0] for s in page.scripts]


async def as_role(app: Starlette, admin: httpx.AsyncClient, role: str) -> httpx.AsyncClient:
    return http_client(app, await add_user(admin, f"user-{role}", role))


async def test_home_is_the_connectors_page(
    client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient
) -> None:
    response = await client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/app/connectors"
    anonymous = await anonymous_client.get("/app/connectors")
    assert anonymous.status_code in (302, 303, 307)
    assert anonymous.headers["location"] == "/login?next=/app/connectors"
    deep = await anonymous_client.get("/app/connectors/new?type=.gen-ai")
    assert deep.headers["location"] == "/login?next=/app/connectors/new%3Ftype%3D.gen-ai"


async def test_the_empty_state_explains_and_offers_create(client: httpx.AsyncClient) -> None:
    response = await client.get("/app/connectors")
    page = Page(response.text)
    assert "holds what llmrelay needs to reach a large language model" in page.text("empty-state")
    assert page.text("create-connector") == "Create connector"
    assert "/app/connectors/new" in page.urls
    assert "connectors-table" not in page.text_by_id


async def test_pages_have_no_inline_script_and_only_own_files(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    connector_id = await create_connector(client, "http://127.0.0.1:9/v1/chat/completions")
    for path in (*PAGES, f"/app/connectors/{connector_id}", f"/app/connectors/{connector_id}/edit"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page = Page(response.text)
        assert not page.inline_script, path
        assert all(url.startswith(("/", "?", "#", "data:")) for url in page.urls), page.urls
    connector = Page((await client.get(f"/app/connectors/{connector_id}")).text)
    assert scripts(connector) == [
        "/app/static/connector_test.js",
        "/app/static/connector_delete.js",
    ]
    for name in ("connector_form.js", "connector_test.js", "connector_delete.js", "connectors.css"):
        assert (await client.get(f"/app/static/{name}")).status_code == 200


async def test_the_form_starts_with_the_specs_defaults(client: httpx.AsyncClient) -> None:
    chooser = Page((await client.get("/app/connectors/new")).text)
    assert "/app/connectors/new?type=.gen-ai" in chooser.urls
    html = (await client.get("/app/connectors/new?type=.gen-ai")).text
    assert f'id="field-apiUrl" type="url" value="{OPENAI_CHAT_COMPLETIONS_URL}"' in html
    assert f'id="field-defaultModel" type="text" value="{DEFAULT_MODEL}"' in html
    assert "http://localhost:1234/v1/chat/completions" in html  # Other's example
    assert "api-version={api-version}" in html  # Azure's deployment URL
    assert "Hello world" not in html  # the test panel needs a saved connector
    assert scripts(Page(html)) == ["/app/static/connector_form.js"]


async def test_the_table_searches_and_sorts(client: httpx.AsyncClient) -> None:
    await create_connector(client, "https://api.openai.com/v1/chat/completions", name="Zeta")
    await create_connector(
        client, "http://127.0.0.1:1234/v1/chat/completions", provider="Other", name="alpha"
    )
    await create_connector(
        client,
        "https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=1",
        provider="Azure OpenAI",
        name="Middle",
    )
    page = Page((await client.get("/app/connectors")).text)
    table = page.text("connectors-table")
    assert table.index("alpha") < table.index("Middle") < table.index("Zeta")
    assert "Zeta OpenAI OpenAI api.openai.com gpt-4.1" in table
    assert "alpha OpenAI Other 127.0.0.1:1234 local-model" in table
    assert "Middle OpenAI Azure OpenAI res.openai.azure.com" in table
    assert page.text("connector-count") == "3 connectors."

    by_provider = Page((await client.get("/app/connectors?sort=provider&order=desc")).text)
    table = by_provider.text("connectors-table")
    assert table.index("alpha") < table.index("Zeta") < table.index("Middle")

    found = Page((await client.get("/app/connectors?q=AZURE")).text)
    assert "Middle" in found.text("connectors-table")
    assert "Zeta" not in found.text("connectors-table")
    assert found.text("connector-count") == "1 of 3 connectors match “AZURE”."
    nothing = Page((await client.get("/app/connectors?q=nothing-like-this")).text)
    assert "No connector matches" in nothing.text("connectors-table")


async def test_a_connector_without_secrets_is_marked(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    connector_id = await create_connector(client, "http://127.0.0.1:9/v1", name="Imported")
    async with app.state.services.database.begin() as connection:  # as an import leaves it
        await connection.execute(
            update(tables.connectors)
            .where(tables.connectors.c.id == connector_id)
            .values(secrets=None)
        )
    listing = Page((await client.get("/app/connectors")).text)
    assert "Imported Missing secrets" in listing.text("connectors-table")
    page = Page((await client.get(f"/app/connectors/{connector_id}")).text)
    assert "Missing secrets" in re.sub(r"\s+", " ", page.text_by_id["main"])


async def test_names_are_escaped(client: httpx.AsyncClient) -> None:
    await create_connector(client, "http://127.0.0.1:9/v1", name="<script>alert(1)</script>")
    html = (await client.get("/app/connectors")).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("role", ["connectors_user", "viewer"])
async def test_readers_see_no_create_edit_delete_or_usage_link(
    role: str, app: Starlette, client: httpx.AsyncClient
) -> None:
    connector_id = await create_connector(client, "http://127.0.0.1:9/v1/chat/completions")
    async with await as_role(app, client, role) as reader:
        listing = Page((await reader.get("/app/connectors")).text)
        assert "create-connector" not in listing.text_by_id
        assert f"/app/connectors/{connector_id}" in listing.urls
        assert "/app/usage" not in listing.urls
        page = Page((await reader.get(f"/app/connectors/{connector_id}")).text)
        for control in ("edit-connector", "delete-connector", "delete-dialog", "usage-link"):
            assert control not in page.text_by_id, control
        assert "test-panel" in page.text_by_id  # connectors:read runs connectors
        for path in ("/app/connectors/new", f"/app/connectors/{connector_id}/edit"):
            refused = await reader.get(path)
            assert refused.status_code == 403
            assert "lacks the [connectors:all] privilege" in Page(refused.text).text("page-error")
        empty = await reader.get("/app/connectors?q=none")
        assert empty.status_code == 200


async def test_the_usage_link_needs_the_usage_privileges(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    connector_id = await create_connector(client, "http://127.0.0.1:9/v1/chat/completions")
    admin_page = Page((await client.get(f"/app/connectors/{connector_id}")).text)
    assert f"/app/connectors/{connector_id}/usage" in admin_page.urls
    async with await as_role(app, client, "usage_viewer") as watcher:
        page = Page((await watcher.get(f"/app/connectors/{connector_id}")).text)
        assert page.text("usage-link") == "View token usage dashboard"
        assert "edit-connector" not in page.text_by_id


@pytest.fixture
async def with_preconfigured(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    declared = {
        "name": "Declared",
        "actionTypeId": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": "http://127.0.0.1:9/v1/chat/completions"},
        "secrets": {"apiKey": UPSTREAM_KEY},
    }
    settings = make_settings(
        tmp_path / "data", **{"actions.preconfigured": {"declared-llm": declared}}
    )
    async with api_client(settings) as client:
        yield client


async def test_a_preconfigured_connector_is_marked_and_cannot_be_edited(
    with_preconfigured: httpx.AsyncClient,
) -> None:
    client = with_preconfigured
    listing = Page((await client.get("/app/connectors")).text)
    assert "Declared Preconfigured" in listing.text("connectors-table")
    page = Page((await client.get("/app/connectors/declared-llm")).text)
    assert "edit-connector" not in page.text_by_id
    assert "cannot be edited or deleted here" in page.text("preconfigured-note")
    assert "delete-connector" in page.text_by_id  # the dialog shows the API's refusal
    refused = await client.get("/app/connectors/declared-llm/edit")
    assert refused.status_code == 403
    assert "Preconfigured action declared-llm can not be updated" in Page(refused.text).text(
        "page-error"
    )
    deleted = await client.delete("/api/actions/connector/declared-llm")
    assert (
        deleted.json()["message"] == "Preconfigured action declared-llm is not allowed to delete."
    )


async def test_an_unknown_connector_gets_a_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/app/connectors/no-such-connector")
    assert response.status_code == 404
    assert "no-such-connector" in Page(response.text).text("page-error")

"""The usage pages as a browser without JavaScript gets them, and their static files."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest
from starlette.applications import Starlette

from tests.usage_history import RANGE, write_history


class Page(HTMLParser):
    """Collects what the tests look at: scripts, links, and the text of elements with an id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_script = False
        self.urls: list[str] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
        for name in ("src", "href", "action", "data-source"):
            if attributes.get(name):
                self.urls.append(str(attributes[name]))
        if tag in ("td", "th", "tr", "dd", "dt"):
            self.handle_data(" ")  # cells read apart, as a screen reader reads them
        if tag not in ("meta", "link", "input", "br"):
            self._open.append((tag, attributes.get("id")))

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1][0] == "script" and data.strip():
            self.inline_script = True
        for _, element_id in self._open:
            if element_id:
                self.text_by_id[element_id] = self.text_by_id.get(element_id, "") + data

    def text(self, element_id: str) -> str:
        return re.sub(r"\s+", " ", self.text_by_id[element_id]).strip()


def rows(page: Page, table_id: str) -> str:
    return page.text(table_id)


async def test_the_overview_shows_every_figure_without_javascript(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    alpha, _ = await write_history(app, client)
    response = await client.get("/app/usage", params=RANGE)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page = Page(response.text)
    assert page.text("total-tokens") == "197"
    assert page.text("prompt-tokens") == "131"
    assert page.text("completion-tokens") == "66"
    assert (page.text("executions"), page.text("failures")) == ("5", "1")
    assert page.text("latency") == "194 ms / 1,004 ms"  # 200 and 1000 ms, within 4.43 %
    assert "1 of 5 executions have token counts estimated" in page.text("estimated-note")
    assert page.text("table-connectors").startswith(
        "Connector Total Prompt Completion Executions Failures Beta 152 101 51 2 0 Alpha 45 *"
    )
    assert "gpt-4o 167 111 56 3 gpt-4o-mini 30 * 20 10 1 (unknown) 0 0 0 1" in page.text(
        "table-models"
    )
    buckets = page.text("table-buckets")
    assert "11-30 03:00 150 100 50 1 0" in buckets
    assert "11-30 04:00 0 0 0 0 0 — —" in buckets
    recent = page.text("table-recent")
    assert recent.index("2026-11-30 05:20:00 Beta run success gpt-4o 2") < recent.index("boom")
    assert f'href="/app/connectors/{alpha}/usage"' in response.text
    assert not page.inline_script
    assert [s.get("src", "").split("?")[0] for s in page.scripts] == [  # type: ignore[union-attr]
        "/app/static/plotly.min.js",
        "/app/static/usage.js",
    ]
    assert all(url.startswith(("/", "?", "data:")) or url == "" for url in page.urls), page.urls


async def test_a_connector_page_shows_only_that_connector(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    alpha, _ = await write_history(app, client)
    response = await client.get(f"/app/connectors/{alpha}/usage", params=RANGE)
    page = Page(response.text)
    assert page.text("total-tokens") == "45"
    assert "Token usage Alpha" in response.text.replace("<small>", "").replace("</small>", "")
    assert "Beta" not in page.text("table-recent")
    assert "table-connectors" not in page.text_by_id
    charts = re.search(r'data-source="([^"]+)"', response.text)
    assert charts is not None
    source = charts.group(1).replace("&amp;", "&")
    assert source.startswith(f"/internal/usage/connector/{alpha}?start=2026-11-30T00%3A30")
    assert (await client.get(source)).json()["totals"]["total_tokens"] == 45


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        (
            "/app/usage",
            {"start": "2026-11-30T05:00", "end": "2026-11-30T01:00"},
            400,
            "is not after",
        ),
        ("/app/usage", {"range": "24h", "interval": "2m"}, 400, "[interval]: must be auto"),
        ("/app/connectors/nope/usage", {}, 404, "Saved object [action/nope] not found"),
    ],
)
async def test_bad_input_gets_a_friendly_page(
    client: httpx.AsyncClient, path: str, params: dict[str, str], status: int, message: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Cannot show this dashboard." in response.text
    assert message in response.text
    assert "<script" not in response.text  # nothing to draw
    assert '<form class="range"' in response.text  # the user can correct the range


@pytest.mark.parametrize(
    ("name", "content_type", "starts"),
    [
        ("plotly.min.js", "text/javascript; charset=utf-8", b"/**\n* plotly.js"),
        ("usage.js", "text/javascript; charset=utf-8", b"// Draws the usage charts"),
        ("usage.css", "text/css; charset=utf-8", b"/* llmrelay token usage pages"),
    ],
)
async def test_static_files_are_served_with_their_content_type(
    client: httpx.AsyncClient, name: str, content_type: str, starts: bytes
) -> None:
    response = await client.get(f"/app/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content.startswith(starts)


async def test_only_the_known_static_files_are_served(client: httpx.AsyncClient) -> None:
    for name in ("nope.js", "..%2Fusage.py", "usage.html"):
        assert (await client.get(f"/app/static/{name}")).status_code == 404


async def test_names_are_escaped_not_run(app: Starlette, client: httpx.AsyncClient) -> None:
    from tests.usage_history import create

    connector_id = await create(client, '<script src="//evil.example/x.js"></script>')
    response = await client.get(f"/app/connectors/{connector_id}/usage")
    assert response.status_code == 200
    assert "evil.example" not in "".join(s.get("src") or "" for s in Page(response.text).scripts)
    assert "&lt;script src=&#34;//evil.example/x.js&#34;&gt;" in response.text


async def test_a_chosen_preset_range_wins_over_the_forms_start_and_end(
    client: httpx.AsyncClient,
) -> None:
    params = {"range": "7d", "start": "2026-11-30T05:00", "end": "2026-11-30T01:00"}
    response = await client.get("/app/usage", params=params)
    assert response.status_code == 200
    assert "interval 3h" in response.text

"""The usage pages in a real Chromium: charts drawn, nothing fetched from another origin.

Runs Debian's chromium (``apt-get install chromium``) through Playwright; Playwright's own browser
downloads are never used. Skips without chromium on a laptop and fails under ``CI=true``.

``LLMRELAY_WRITE_SCREENSHOT=docs/images/usage-dashboard.png`` also saves the screenshot shown in
docs/eventlog.md.
"""

from __future__ import annotations

import math
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.async_api import Page

from llmrelay.eventlog import ExecutionEvent
from llmrelay.settings import Settings
from tests.conftest import ADMIN_AUTH
from tests.ui.browser import Watched, chromium, log_in, served
from tests.usage_history import RANGE, write_history

CHARTS = ("chart-tokens", "chart-executions", "chart-latency", "chart-models")


async def drawn(page: Page, chart_id: str) -> int:
    """How many bars or points plotly drew in the chart."""
    count: int = await page.locator(
        f"#{chart_id} .main-svg .point, #{chart_id} .main-svg .scatterlayer .trace path.js-line"
    ).count()
    return count


async def test_charts_are_drawn_from_this_origin_only(settings: Settings) -> None:
    async with served(settings) as (app, base), chromium() as browser:
        async with httpx.AsyncClient(
            base_url=base, headers={"kbn-xsrf": "true"}, auth=ADMIN_AUTH
        ) as client:
            alpha, _ = await write_history(app, client)
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        watched = Watched(page)
        query = "&".join(f"{k}={v}" for k, v in RANGE.items())
        await log_in(page, base, "/app/usage")
        response = await page.goto(f"{base}/app/usage?{query}")
        assert response is not None
        assert response.status == 200
        await page.wait_for_selector("#charts[data-drawn='true']", timeout=20_000)
        for chart in (*CHARTS, "chart-connectors"):
            assert await drawn(page, chart) > 0, f"{chart} has nothing drawn"
        assert await page.is_visible("#charts")
        assert await page.get_attribute("#over-time", "open") is None  # folded once charts show
        assert await page.text_content("#total-tokens") == "197"

        await page.goto(f"{base}/app/connectors/{alpha}/usage?{query}")
        await page.wait_for_selector("#charts[data-drawn='true']", timeout=20_000)
        for chart in CHARTS:
            assert await drawn(page, chart) > 0, f"{chart} has nothing drawn"
        await page.close()

    assert watched.urls, "the browser made no request"
    elsewhere = [url for url in watched.urls if not url.startswith(f"{base}/")]
    assert elsewhere == []
    assert f"{base}/app/static/plotly.min.js?" in " ".join(watched.urls)
    assert watched.errors == []  # a CSP violation would be reported here


async def test_the_page_fits_a_360_pixel_screen_takes_a_custom_range_and_reads_without_js(
    settings: Settings,
) -> None:
    async with served(settings) as (app, base), chromium() as browser:
        async with httpx.AsyncClient(
            base_url=base, headers={"kbn-xsrf": "true"}, auth=ADMIN_AUTH
        ) as client:
            await write_history(app, client)
        query = "&".join(f"{k}={v}" for k, v in RANGE.items())
        phone = await browser.new_page(viewport={"width": 360, "height": 740})
        await log_in(phone, base, "/app/usage")
        await phone.goto(f"{base}/app/usage?{query}")
        await phone.wait_for_selector("#charts[data-drawn='true']", timeout=20_000)
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the page is {width} px wide on a 360 px screen"
        await phone.select_option("select[name=range]", "custom")
        await phone.fill("input[name=start]", "2026-11-30T01:00")
        await phone.fill("input[name=end]", "2026-11-30T04:00")
        await phone.click("button[type=submit]")
        await phone.wait_for_selector("#charts[data-drawn='true']", timeout=20_000)
        assert await phone.text_content("#total-tokens") == "180"  # 01:15, 02:05 and 03:00
        period = await phone.text_content(".period")
        assert period == "2026-11-30 01:00:00 to 2026-11-30 04:00:00 UTC · interval 1h"
        context = await browser.new_context(java_script_enabled=False)
        no_script = await context.new_page()
        await log_in(no_script, base, "/app/usage")  # the login form needs no script either
        await no_script.goto(f"{base}/app/usage?{query}")
        assert await no_script.is_hidden("#charts")
        assert await no_script.text_content("#total-tokens") == "197"
        assert await no_script.is_visible("#table-buckets")
        assert await no_script.locator("#table-recent tbody tr").count() == 5
        await context.close()


def busy_day(connector_ids: dict[str, str], now: datetime) -> list[ExecutionEvent]:
    """A day of plausible traffic for the screenshot."""
    rng = random.Random(7)
    events = []
    for _n in range(600):
        at = now - timedelta(hours=24) + timedelta(seconds=rng.uniform(0, 86_400))
        connector_id, name = rng.choice(list(connector_ids.items()))
        failed = rng.random() < 0.06
        prompt, completion = rng.randint(50, 1500), rng.randint(20, 600)
        duration_ns = int(rng.lognormvariate(math.log(900e6), 0.5))
        events.append(
            ExecutionEvent(
                id=str(uuid.uuid4()),
                timestamp=at,
                end=at + timedelta(microseconds=duration_ns // 1000),
                duration_ns=duration_ns,
                outcome="failure" if failed else "success",
                connector_id=connector_id,
                connector_name=name,
                connector_type_id=".gen-ai",
                sub_action=rng.choice(("run", "stream", "invokeAI")),
                source="http_request",
                message="action executed",
                provider="OpenAI",
                model=rng.choice(("gpt-4.1", "gpt-4.1-mini", "gpt-4o")),
                error_message="an error occurred while running the action: Status code: 429"
                if failed
                else None,
                prompt_tokens=None if failed else prompt,
                completion_tokens=None if failed else completion,
                total_tokens=None if failed else prompt + completion,
                usage_estimated=None if failed else rng.random() < 0.05,
            )
        )
    return events


async def test_screenshot_of_a_busy_day(settings: Settings, tmp_path: Path) -> None:
    async with served(settings) as (app, base), chromium() as browser:
        async with httpx.AsyncClient(
            base_url=base, headers={"kbn-xsrf": "true"}, auth=ADMIN_AUTH
        ) as client:
            alpha, beta = await write_history(app, client)
        writer = app.state.services.events
        for event in busy_day({alpha: "Alpha", beta: "Beta"}, datetime.now(UTC)):
            writer.record(event)
        await writer.flush()
        page = await browser.new_page(viewport={"width": 960, "height": 1400})
        await log_in(page, base, "/app/usage")
        await page.goto(f"{base}/app/connectors/{alpha}/usage?range=24h")
        await page.wait_for_selector("#charts[data-drawn='true']", timeout=20_000)
        target = Path(os.environ.get("LLMRELAY_WRITE_SCREENSHOT") or tmp_path / "usage.png")
        await page.screenshot(path=str(target))  # the first screen: charts and figures
    assert target.read_bytes().startswith(b"\x89PNG")

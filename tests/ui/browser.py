"""What the Chromium tests share: the app on a real port, Debian's chromium, a page watcher, login.

Runs Debian's chromium (``apt-get install chromium``) through Playwright; Playwright's own browser
downloads are never used. ``chromium()`` skips without it on a laptop and fails under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from playwright.async_api import Browser, ConsoleMessage, Page, Request, async_playwright
from starlette.applications import Starlette

from llmrelay.app import create_app
from llmrelay.settings import Settings
from tests.components import require
from tests.conftest import ADMIN_USERNAME, TEST_ADMIN_PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[Starlette, str]]:
    """The app behind a real uvicorn on a loopback port, as a browser needs it."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    require("chromium", CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


class Watched:
    """Every request a page makes, and every console error or script exception it has."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _request(self, request: Request) -> None:
        self.urls.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def elsewhere(self, base: str) -> list[str]:
        """The requests that left for another origin than ``base``."""
        return [url for url in self.urls if not url.startswith(f"{base}/")]


async def log_in(
    page: Page,
    base: str,
    path: str,
    username: str = ADMIN_USERNAME,
    password: str = TEST_ADMIN_PASSWORD,
    landing: str | None = None,
) -> None:
    """Open ``path`` as a person does: sent to the login page first, then on to ``landing``
    (``path`` unless it redirects)."""
    await page.goto(f"{base}{path}")
    assert page.url.startswith(f"{base}/login?next="), page.url
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}{landing or path}")

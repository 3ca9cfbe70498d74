"""A real portal served by uvicorn on loopback, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from toolkit.app import create_app
from toolkit.portal import Portal
from toolkit.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("TOOLKIT_CHROMIUM", ""),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
    ):
        if candidate and shutil.which(candidate):
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        if os.environ.get("TOOLKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "Chromium is required here (TOOLKIT_REQUIRE_BROWSER=1) but /usr/bin/chromium is missing"
            )
        pytest.skip("no Chromium found: install Debian's chromium package (CI always runs this test)")
    return path


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = Settings(**{**settings.__dict__, "base_url": self.url})
        self.portal = Portal(self.settings)
        config = uvicorn.Config(
            create_app(self.settings, portal=self.portal),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("portal did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings.from_env(
        {}, store=str(tmp_path / "data"), secret_key="browser-test-" + "y" * 20, refresh_seconds=0.5
    )
    server = LiveServer(settings)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def browser_page(chromium: str, tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1280, "height": 900}, locale="en-US"
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()
        browser.close()

"""Real-browser fixtures: Debian's Chromium driven by Playwright for Python, and screenshot artifacts.

The tests use the system Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``) rather than a browser
downloaded by ``playwright install``. When Chromium or Playwright is missing they skip and say how
to install them. Screenshots land in ``test-artifacts/browser/`` (ignored by git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
#: Headless, no sandbox (CI containers), nothing phoning home. Playwright gives every launch a
#: fresh, empty temporary user-data dir (``--user-data-dir`` cannot be passed to ``launch()``) and
#: removes it when the browser closes.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
INSTALL_HINT = (
    "install Chromium with `sudo apt-get install -y chromium` (Debian/Ubuntu; or point $CHROMIUM at a "
    "Chrome/Chromium binary) and Playwright with `pip install 'playwright>=1.40'` "
    "(no `playwright install` needed: the system Chromium is used)"
)


def chromium_executable() -> str | None:
    """The Chromium to drive: ``$CHROMIUM``, else ``/usr/bin/chromium``, else one on the PATH."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (each test gets its own fresh context); closed
    with the module so that no browser outlives the tests that need it."""
    executable = chromium_executable()
    if executable is None:
        pytest.skip(f"no Chromium found: {INSTALL_HINT}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"Playwright for Python is not installed: {INSTALL_HINT}")
    with sync_playwright() as playwright:
        # launch() gives Chromium a fresh temporary profile (user-data dir) that it removes on close.
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A new page in a fresh browser context; the JavaScript console is kept in ``page.console``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    console: list[str] = []
    new_page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    new_page.console = console  # type: ignore[attr-defined]
    try:
        yield new_page
    finally:
        context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``screenshot(page, "inbox-list")`` saves a full-page PNG under test-artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(target: Page, name: str, **kwargs: Any) -> Path:
        path = ARTIFACTS / f"{name}.png"
        kwargs.setdefault("full_page", True)
        target.screenshot(path=str(path), **kwargs)
        return path

    return take

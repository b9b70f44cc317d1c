"""How the browser tests start Chromium (headless, no sandbox, nothing phoning home, an empty profile)
and how they skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import INSTALL_HINT, chromium_executable

REQUIRED_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def test_no_chromium_means_a_skip_that_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-chromium"
    monkeypatch.setenv("CHROMIUM", str(missing))
    assert chromium_executable() is None
    not_executable = tmp_path / "chromium"
    not_executable.write_text("")
    monkeypatch.setenv("CHROMIUM", str(not_executable))
    assert chromium_executable() is None
    assert "apt-get install -y chromium" in INSTALL_HINT
    assert "playwright" in INSTALL_HINT.lower()


def test_browser_fixture_skips_without_chromium(tmp_path: Path) -> None:
    """A browser test in a fresh pytest run on a machine without Chromium: skipped, with the hint."""
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_needs_browser.py").write_text("def test_page(page):\n    raise AssertionError('ran')\n")
    env = {**os.environ, "CHROMIUM": str(tmp_path / "absent-chromium")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "no Chromium found: install Chromium with `sudo apt-get install -y chromium`" in result.stdout


def test_launch_uses_the_flags_and_a_fresh_profile(browser: Any) -> None:
    """chrome://version shows the command line Chromium really got."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto("chrome://version")
        command_line = page.locator("#command_line").inner_text()
        profile = page.locator("#profile_path").inner_text()
    finally:
        context.close()
    for flag in REQUIRED_FLAGS:
        assert f"{flag} " in f"{command_line} ", flag
    assert "--user-data-dir=" in command_line
    # Playwright's throwaway profile directory, created empty for this launch.
    assert "playwright_chromiumdev_profile-" in profile

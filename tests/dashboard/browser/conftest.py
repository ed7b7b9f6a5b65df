"""Browser tests of the dashboard: a real `crisis-tracker serve` with the demo data, driven
in headless Chromium by Playwright.

They use the system's Chromium (Debian's `chromium` package; never `playwright install`,
which downloads a browser). Without it they skip, saying why, unless
TRACKER_REQUIRE_BROWSER=1 (as CI sets it), which makes a missing browser a failure.
Screenshots of every page, on a desktop and a phone viewport, go to
tests/dashboard/browser/screenshots/ (or TRACKER_SCREENSHOTS_DIR); the run ends by listing them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ROOT, Server, cli_command, running

REQUIRED = os.environ.get("TRACKER_REQUIRE_BROWSER", "") not in ("", "0", "false", "no")
SCREENSHOTS = Path(
    os.environ.get("TRACKER_SCREENSHOTS_DIR") or Path(__file__).parent / "screenshots"
).resolve()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
# When this run began: the screenshots written since are this run's, whichever of the
# suite's processes (pytest-xdist) wrote them.
_STARTED = time.time()


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"TRACKER_REQUIRE_BROWSER is set, but {reason}", pytrace=False)
    pytest.skip(f"{reason} (install Debian's chromium, or set TRACKER_CHROMIUM)")


def chromium_path() -> str | None:
    named = os.environ.get("TRACKER_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Demo:
    """The server, and the demo users' tokens by name."""

    server: Server
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def demo(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`crisis-tracker demo` into a database of this module's own, then a server on it."""
    env = {**os.environ, "TRACKER_DATABASE_URL": module_database_url}
    loaded = subprocess.run(
        [*cli_command(), "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert loaded.returncode == 0, loaded.stderr
    tokens = {
        parts[0]: parts[1]
        for parts in (line.split() for line in loaded.stdout.splitlines())
        if len(parts) == 2 and parts[1].startswith("ct_")
    }
    log = tmp_path_factory.mktemp("browser-server") / "server.log"
    with running(module_database_url, log) as server:
        yield Demo(server, tokens)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    executable = chromium_path()
    if executable is None:
        where = os.environ.get("TRACKER_CHROMIUM") or "chromium or chromium-browser on PATH"
        _unavailable(f"no Chromium found (looked for {where})")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    saved = sorted(SCREENSHOTS.glob("*.png")) if SCREENSHOTS.is_dir() else []
    saved = [path for path in saved if path.stat().st_mtime >= _STARTED]
    if saved:
        terminalreporter.section("dashboard screenshots")
        for path in saved:
            terminalreporter.write_line(str(path))

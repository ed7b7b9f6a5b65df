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
from urllib.parse import parse_qs, urlparse

import httpx
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


def formatted(value: int, lang: str = "en") -> str:
    """A whole number as Intl.NumberFormat writes it in the dashboard's languages: en-GB
    1,234,567; fr-FR 1 234 567 with narrow no-break spaces; es-ES 1.234.567, but 1234 (no
    separator below 10,000)."""
    grouped = f"{value:,}"
    if lang == "fr":
        return grouped.replace(",", "\u202f")
    if lang == "es":
        return str(value) if abs(value) < 10_000 else grouped.replace(",", ".")
    return grouped


class Tab:
    """A page in a fresh browser context, which records console errors and API calls.
    `locale` is the browser's language (navigator.language); numbers shown are checked as
    that language's dashboard writes them."""

    def __init__(
        self, browser: Any, demo: Demo, device: str, locale: str = "en-US", **options: Any
    ) -> None:
        self.demo = demo
        self.viewport = device
        self.lang = locale[:2]
        self.context = browser.new_context(**{**VIEWPORTS[device], **options}, locale=locale)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.api_calls: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "request",
            lambda r: self.api_calls.append(r.url) if "/api/v1/" in r.url else None,
        )

    def goto(self, path: str) -> None:
        self.page.goto(self.demo.url + path)

    def sign_in(
        self, user: str, next_path: str = "/dashboard/", state: str = "true", shot: bool = False
    ) -> None:
        self.goto(next_path)
        # Without a token every page sends the user to sign in, and back afterwards.
        self.page.wait_for_url("**/dashboard/sign-in?next=*")
        if shot:
            self.shot("sign-in")
        self.page.fill("#token", self.demo.tokens[user])
        self.page.click("#sign-in button[type=submit]")
        self.page.wait_for_url(f"**{next_path}")
        self.loaded(state)

    def loaded(self, state: str = "true") -> None:
        self.page.wait_for_selector(f'body[data-loaded="{state}"]', timeout=20_000)

    def choose(self, name: str, value: str) -> None:
        """Changes a filter as a user does, and waits for the numbers to follow."""
        self.page.select_option(f"#filter-{name}", value)
        self.loaded()

    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlparse(self.page.url).query).items()}

    def figure(self, selector: str) -> int:
        """A number as shown: its text, formatted, must say the same as its data-value."""
        node = self.page.locator(selector)
        value = int(node.get_attribute("data-value") or "")
        assert node.inner_text().strip() == formatted(value, self.lang), selector
        return value

    def figures(self, rows: str, key: str, cell: str) -> dict[str, int]:
        """{row's data-<key>: the figure in its cell} for every row matched."""
        result = {}
        for row in self.page.locator(rows).all():
            node = row.locator(cell)
            value = int(node.get_attribute("data-value") or "")
            assert node.inner_text().strip() == formatted(value, self.lang)
            result[row.get_attribute(f"data-{key}") or ""] = value
        return result

    def shot(self, name: str) -> None:
        screenshot(self.page, f"{name}-{self.viewport}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, demo: Demo, request: pytest.FixtureRequest) -> Iterator[Any]:
    """tab(device, **options) opens a tab (device names one of VIEWPORTS; options go to
    the browser context); at the end, no page may have logged an error (a blocked script
    or style, a failed request, an exception)."""
    tabs: list[Tab] = []

    def open_tab(device: str = "desktop", **options: Any) -> Tab:
        tabs.append(Tab(browser, demo, device, **options))
        return tabs[-1]

    yield open_tab
    for t in tabs:
        t.close()
    for t in tabs:
        assert t.errors == [], t.errors


def api(demo: Demo, user: str, path: str, **params: Any) -> Any:
    """GET path of the demo's API as user (a demo user's name); the JSON of its 200."""
    response = httpx.get(
        f"{demo.url}/api/v1{path}",
        params={k: v for k, v in params.items() if v is not None},
        headers={"Authorization": f"Bearer {demo.tokens[user]}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()

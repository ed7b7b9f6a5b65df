"""The sitrep form, its outbox and its pages in headless Chromium, on the demo data: what
a field officer types, what the page shows, and what the API then holds (read with httpx).

Each test uses a fresh browser context (its own IndexedDB, service worker and caches) and
periods of 2026 of its own, so that no two tests report the same slot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.conftest import VIEWPORTS, Demo, screenshot

SUDAN_CRISIS = "Sudan conflict and regional displacement"


class Officer:
    """A field officer at the form, in a fresh browser context."""

    def __init__(
        self,
        browser: Any,
        demo: Demo,
        viewport: str = "desktop",
        user: str = "demo-field",
        locale: str | None = None,
    ) -> None:
        self.demo = demo
        self.user = user
        options = dict(VIEWPORTS[viewport])
        if locale:
            options["locale"] = locale
        self.context = browser.new_context(**options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.demo.url}/api/v1",
            headers={"Authorization": f"Bearer {self.demo.tokens[self.user]}"},
        )

    def sign_in(self, path: str = "/dashboard/sitrep") -> None:
        self.page.goto(self.demo.url + path)
        self.page.wait_for_url("**/dashboard/sign-in?next=*")
        self.page.fill("#token", self.demo.tokens[self.user])
        self.page.click("#sign-in button[type=submit]")
        self.page.wait_for_url(re.compile(re.escape(path.split("?")[0])))
        self.loaded()

    def loaded(self) -> None:
        self.page.wait_for_selector('body[data-loaded="true"]', timeout=20_000)

    def offline_ready(self) -> None:
        self.page.wait_for_selector('body[data-offline="ready"]', timeout=20_000)

    def line(self, index: int) -> Any:
        return self.page.locator("#lines fieldset.line").nth(index)

    def head(
        self,
        *,
        country: str = "SDN",
        crisis: str | None = SUDAN_CRISIS,
        start: str,
        end: str,
        narrative: str = "",
    ) -> None:
        page = self.page
        page.select_option("#country", country)
        page.wait_for_selector("#admin1-options option", state="attached", timeout=10_000)
        if crisis:
            value = page.locator("#crisis option", has_text=crisis).get_attribute("value")
            page.select_option("#crisis", value)
        page.fill("#period-start", start)
        page.fill("#period-end", end)
        if narrative:
            page.fill("#narrative", narrative)

    def fill_line(
        self,
        index: int,
        *,
        sector: str,
        division: str = "hod",
        phase: str = "response",
        admin1: str = "",
        admin2: str = "",
        reached: int,
        new: int | None = None,
        cumulative: int | None = None,
        target: int | None = None,
        split: tuple[int, int, int, int] | None = None,
        pwd: int | None = None,
        indicators: dict[str, int] | None = None,
    ) -> None:
        if index > 0 and self.page.locator("#lines fieldset.line").count() <= index:
            self.page.click("#add-line")
        line = self.line(index)
        line.locator('[data-field="sector"]').select_option(sector)
        line.locator('[data-field="division"]').select_option(division)
        line.locator('[data-field="phase"]').select_option(phase)
        if admin1:
            line.locator('[data-field="admin1"]').fill(admin1)
        if admin2:
            line.locator('[data-field="admin2"]').fill(admin2)
        line.locator('[data-field="people_reached"]').fill(str(reached))
        if cumulative is not None:
            line.locator('input[value="cumulative"]').check()
            line.locator('[data-field="figure_value"]').fill(str(cumulative))
        elif new is not None:
            line.locator('[data-field="figure_value"]').fill(str(new))
        if target is not None:
            line.locator('[data-field="people_targeted"]').fill(str(target))
        if split:
            for name, value in zip(("women", "men", "girls", "boys"), split, strict=True):
                line.locator(f'[data-field="{name}"]').fill(str(value))
        if pwd is not None:
            line.locator('[data-field="persons_with_disabilities"]').fill(str(pwd))
        for name, value in (indicators or {}).items():
            line.locator(f'[data-indicator="{name}"]').fill(str(value))

    def submit(self) -> None:
        self.page.click("#submit")

    def outcome_state(self, state: str) -> Any:
        self.page.wait_for_selector(f'#outcome .badge[data-state="{state}"]', timeout=20_000)
        return self.page.locator("#outcome")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def officer(browser: Any, demo: Demo) -> Iterator[Officer]:
    person = Officer(browser, demo)
    yield person
    person.close()


def sitreps_of(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/sitreps", params={"limit": 1000, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_online_two_line_sitrep_is_stored_and_counted(officer: Officer) -> None:
    page = officer.page
    officer.sign_in()
    assert page.locator('script[src*="plotly"]').count() == 0
    officer.head(start="2026-01-01", end="2026-01-31", narrative="Shelter and water in Khartoum.")
    officer.fill_line(
        0,
        sector="shelter",
        admin1="Khartoum",
        reached=1200,
        new=300,
        target=1500,
        split=(400, 300, 260, 240),
        pwd=30,
        indicators={"households_assisted": 240},
    )
    line = officer.line(0)
    # Chosen by name, shown with its p-code.
    assert "SD01" in line.locator(".hint").first.inner_text()
    assert "1,200 of 1,200" in line.locator(".sum").inner_text()
    officer.fill_line(
        1,
        sector="wash",
        admin1="North Darfur (SD02)",
        admin2="Al Fasher",
        reached=2500,
        new=2500,
        split=(800, 700, 520, 480),
        indicators={"water_points": 6},
    )
    # Only the chosen sector's indicators are offered.
    assert officer.line(1).locator("[data-indicator]").evaluate_all(
        "nodes => nodes.map(n => n.dataset.indicator)"
    ) == ["water_points", "latrines"]
    screenshot(page, "form-new-desktop")
    officer.submit()
    outcome = officer.outcome_state("accepted")
    link = outcome.locator("a.sitrep-link")
    sitrep_id = int(re.search(r"id=(\d+)", link.get_attribute("href") or "").group(1))  # type: ignore[union-attr]
    assert f"sitrep {sitrep_id}" in outcome.inner_text()
    with officer.api() as api:
        stored = api.get(f"/sitreps/{sitrep_id}").json()
        totals = api.get("/totals", params={"country": "SDN", "year": 2026}).json()["rows"]
    assert stored["period_start"] == "2026-01-01"
    assert stored["narrative"] == "Shelter and water in Khartoum."
    lines = {line["sector"]: line for line in stored["lines"]}
    assert lines["shelter"]["admin1"] == "SD01"
    assert lines["shelter"]["people_reached_new"] == 300
    assert lines["shelter"]["disaggregation"] == {
        "women": 400,
        "men": 300,
        "girls": 260,
        "boys": 240,
    }
    assert lines["shelter"]["indicators"] == {"households_assisted": 240}
    assert (lines["wash"]["admin1"], lines["wash"]["admin2"]) == ("SD02", "SD02114")
    assert lines["wash"]["people_reached"] == 2500
    assert [row["people_reached"] for row in totals] == [300 + 2500]
    # The country page shows the new year's figure.
    page.goto(f"{officer.demo.url}/dashboard/country?country=SDN&year=2026")
    officer.loaded()
    assert page.locator("#kpi-sum").get_attribute("data-value") == str(300 + 2500)
    assert not officer.errors

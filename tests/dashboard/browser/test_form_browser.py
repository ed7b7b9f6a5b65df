"""The sitrep form, its outbox and its pages in headless Chromium, on the demo data: what
a field officer types, what the page shows, and what the API then holds (read with httpx).

Each test uses a fresh browser context (its own IndexedDB, service worker and caches) and
periods of 2026 of its own, so that no two tests report the same slot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.dashboard.browser.conftest import VIEWPORTS, Demo, screenshot

SUDAN_CRISIS = "Sudan conflict and regional displacement"


class Officer:
    """A field officer at the form, in a fresh browser context."""

    def __init__(
        self,
        browser: Any,
        demo: Demo,
        viewport: str = "desktop",
        user: str = "demo-field",
        **options: Any,
    ) -> None:
        self.demo = demo
        self.user = user
        self.context = browser.new_context(**{**VIEWPORTS[viewport], **options})
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
        self.page.wait_for_selector('body[data-offline="ready"]', timeout=60_000)

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

    def keep_signed_in(self) -> None:
        """Ticks "keep me signed in" and waits until the device holds the token: the choice
        is kept in IndexedDB, and leaving the page before that write commits aborts it."""
        self.page.check("#keep-signed-in")
        self.page.wait_for_function(
            """() => import("/dashboard/static/store.js")
                .then((store) => store.deviceGet(store.KEPT_TOKEN))
                .then((kept) => Boolean(kept && kept.token))"""
        )

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
        cumulative=2500,
        split=(800, 700, 520, 480),
        indicators={"water_points": 6},
    )
    # Only the chosen sector's indicators are offered.
    assert officer.line(1).locator("[data-indicator]").evaluate_all(
        "nodes => nodes.map(n => n.dataset.indicator)"
    ) == ["water_points", "latrines"]
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
    assert lines["wash"]["people_reached_cumulative"] == 2500
    assert [row["people_reached"] for row in totals] == [300 + 2500]
    # The country page shows the new year's figure.
    page.goto(f"{officer.demo.url}/dashboard/country?country=SDN&year=2026")
    officer.loaded()
    assert page.locator("#kpi-sum").get_attribute("data-value") == str(300 + 2500)
    assert not officer.errors


def test_offline_sitreps_wait_in_the_outbox_and_are_stored_once(officer: Officer) -> None:
    page = officer.page
    officer.sign_in()
    officer.offline_ready()
    officer.context.set_offline(True)
    # The form comes from the service worker, its lists from the kept copies.
    page.reload()
    officer.loaded()
    sectors = ["shelter", "wash", "health"]
    for number, sector in enumerate(sectors):
        officer.head(start="2026-02-01", end="2026-02-28")
        officer.fill_line(0, sector=sector, admin1="South Darfur", reached=100 + number)
        officer.submit()
        officer.outcome_state("waiting")
        page.wait_for_selector("#status:has-text('offline')", timeout=10_000)
        if number == 0:
            screenshot(page, "form-offline-desktop")
    officer.context.set_offline(False)
    with officer.api() as api:
        for _ in range(60):
            stored = sitreps_of(
                api, country="SDN", period_from="2026-02-01", period_to="2026-02-28"
            )
            if len(stored) >= 3:
                break
            page.wait_for_timeout(500)
        page.wait_for_timeout(1000)
        stored = sitreps_of(api, country="SDN", period_from="2026-02-01", period_to="2026-02-28")
    assert sorted(s["lines"][0]["sector"] for s in stored) == sorted(sectors)
    assert sorted(s["lines"][0]["people_reached"] for s in stored) == [100, 101, 102]
    officer.outcome_state("accepted")


def test_a_lost_answer_is_retried_and_the_sitrep_stored_once(browser: Any, demo: Demo) -> None:
    officer = Officer(browser, demo, service_workers="block")
    page = officer.page
    lost: list[int] = []

    def lose_first_answer(route: Any) -> None:
        if route.request.method == "POST" and not lost:
            answer = route.fetch()  # the service commits the sitrep ...
            lost.append(answer.status)
            route.abort("connectionreset")  # ... and its answer never arrives
        else:
            route.continue_()

    page.route("**/api/v1/sitreps", lose_first_answer)
    officer.sign_in()
    officer.head(start="2026-03-01", end="2026-03-31")
    officer.fill_line(0, sector="cccm", admin1="West Darfur", reached=640, new=640)
    officer.submit()
    officer.outcome_state("accepted")
    assert lost == [201]
    with officer.api() as api:
        stored = sitreps_of(api, country="SDN", period_from="2026-03-01", period_to="2026-03-31")
    assert len(stored) == 1
    link = page.locator("#outcome a.sitrep-link").get_attribute("href")
    assert link == f"/dashboard/sitrep?id={stored[0]['id']}"
    officer.close()


def test_a_refusal_of_the_service_is_shown_at_its_input(browser: Any, demo: Demo) -> None:
    officer = Officer(browser, demo, service_workers="block")
    page = officer.page

    page.route("**/api/v1/countries/SDN/admin-areas?level=all", stale_admin_areas)
    officer.sign_in()
    officer.head(start="2026-04-01", end="2026-04-30")
    officer.fill_line(0, sector="health", admin1="Khartoum", admin2="Old Camp", reached=50)
    officer.submit()
    officer.outcome_state("refused")
    admin2 = officer.line(0).locator('[data-field="admin2"]')
    message = page.locator(f"#{admin2.get_attribute('id')}-msg")
    assert "SD01999" in message.inner_text()
    assert message.get_attribute("id") in (admin2.get_attribute("aria-describedby") or "")
    assert admin2.get_attribute("aria-invalid") == "true"
    screenshot(page, "form-refused-desktop")
    # Corrected, it is accepted (with a new Idempotency-Key, since the request changed).
    admin2.fill("")
    officer.submit()
    officer.outcome_state("accepted")
    officer.close()


def test_a_conflict_links_to_the_sitrep_holding_the_slot(officer: Officer) -> None:
    page = officer.page
    with officer.api() as api:
        held = sitreps_of(api, country="SDN", period_from="2025-03-01", period_to="2025-03-31")
    assert len(held) == 1
    officer.sign_in()
    officer.head(start="2025-03-01", end="2025-03-31")
    officer.fill_line(0, sector="shelter", admin1="Khartoum", reached=10)
    officer.submit()
    link = page.locator("#summary a.amend-instead")
    link.wait_for(timeout=20_000)
    assert link.get_attribute("href") == f"/dashboard/sitrep?id={held[0]['id']}"
    assert f"{held[0]['id']}" in page.locator("#summary").inner_text()
    screenshot(page, "form-conflict-desktop")
    link.click()
    officer.loaded()
    assert f"{held[0]['id']}" in page.locator("#title").inner_text()
    assert page.locator("#period-start").input_value() == "2025-03-01"


def test_an_amendment_of_a_changed_sitrep_shows_the_newer_revision(officer: Officer) -> None:
    page = officer.page
    body = {
        "country": "SDN",
        "period_start": "2026-05-01",
        "period_end": "2026-05-31",
        "lines": [
            {
                "sector": "wash",
                "division": "hod",
                "phase": "response",
                "admin1": "SD03",
                "people_reached": 1000,
            }
        ],
    }
    with officer.api() as api:
        created = api.post("/sitreps", json=body)
        assert created.status_code == 201, created.text
        sitrep_id = created.json()["id"]
        officer.sign_in(f"/dashboard/sitrep?id={sitrep_id}")
        assert page.locator("#period-start").input_value() == "2026-05-01"
        page.fill("#narrative", "Water trucking in Nyala.")
        # Meanwhile, a colleague corrects the figure.
        newer = {**body, "lines": [{**body["lines"][0], "people_reached": 1100}]}
        changed = api.put(
            f"/sitreps/{sitrep_id}", json=newer, headers={"If-Match": created.headers["ETag"]}
        )
        assert changed.status_code == 200, changed.text
        officer.submit()
        summary = page.locator("#summary")
        page.locator("#reapply").wait_for(timeout=20_000)
        assert "1000 → 1100" in summary.inner_text().replace(",", "")
        screenshot(page, "form-stale-desktop")
        page.click("#reapply")
        officer.outcome_state("accepted")
        stored = api.get(f"/sitreps/{sitrep_id}").json()
    assert stored["revision"] == 3
    assert stored["narrative"] == "Water trucking in Nyala."


def stale_admin_areas(route: Any) -> None:
    """The list the form chooses from names a place the service no longer knows."""
    answer = route.fetch()
    areas = answer.json()
    areas.append({"code": "SD01999", "name": "Old Camp", "level": 2, "parent": "SD01"})
    route.fulfill(response=answer, json=areas)


@pytest.mark.parametrize(
    ("locale", "grouped", "words", "server_says", "client_says"),
    [
        (
            "fr-FR",
            "12\u202f000",
            {"#submit": "Soumettre", 'label[for="country"]': "Pays"},
            "n'est pas un p-code admin2",
            "Femmes, hommes, filles et garçons font",
        ),
        (
            "es-ES",
            "12.000",
            {"#submit": "Enviar", 'label[for="country"]': "País"},
            "no es un p-code admin2",
            "Mujeres, hombres, niñas y niños suman",
        ),
    ],
)
def test_the_form_in_french_and_spanish(
    browser: Any,
    demo: Demo,
    locale: str,
    grouped: str,
    words: dict[str, str],
    server_says: str,
    client_says: str,
) -> None:
    officer = Officer(browser, demo, locale=locale, service_workers="block")
    page = officer.page
    page.route("**/api/v1/countries/SDN/admin-areas?level=all", stale_admin_areas)
    officer.sign_in()
    assert page.locator("html").get_attribute("lang") == locale[:2]
    for selector, text in words.items():
        assert page.locator(selector).inner_text().strip() == text
    officer.head(start="2026-08-01", end="2026-08-31")
    officer.fill_line(
        0,
        sector="health",
        admin1="Khartoum",
        admin2="Old Camp",
        reached=12000,
        split=(4000, 3000, 2600, 2000),
    )
    line = officer.line(0)
    # Numbers as the language writes them, and a rule checked before anything is sent.
    assert grouped in line.locator(".sum").inner_text()
    officer.submit()
    assert client_says in line.locator(".split > .msg").inner_text()
    line.locator('[data-field="boys"]').fill("2400")
    officer.submit()
    officer.outcome_state("refused")
    admin2 = line.locator('[data-field="admin2"]')
    assert server_says in page.locator(f"#{admin2.get_attribute('id')}-msg").inner_text()
    screenshot(page, f"form-refused-{locale[:2]}-desktop")
    officer.close()


SHEET = (
    "country,crisis_id,period_start,period_end,sector,division,phase,admin1,people_reached,"
    "people_reached_new\n"
    "SDN,1,2026-06-01,2026-06-30,shelter,hod,response,SD01,500,500\n"
    "SDN,1,2026-06-01,2026-06-30,wash,hod,response,SD01,700,650\n"
    "SDN,1,2026-07-01,2026-07-31,health,hod,response,XX99,10,10\n"
)


def test_a_sheet_is_checked_then_imported(officer: Officer, tmp_path: Any) -> None:
    page = officer.page
    sheet = tmp_path / "5w-sudan.csv"
    sheet.write_text(SHEET)
    officer.sign_in("/dashboard/upload")
    page.set_input_files("#file", str(sheet))
    page.click("#check")
    page.wait_for_selector("#report:not([hidden])", timeout=30_000)
    assert "nothing was written" in page.locator("#report-title").inner_text()
    problems = page.locator("#problems tbody tr").all()
    cells = [row.locator("td").all_inner_texts() for row in problems]
    assert any(c[0] == "4" and c[1] == "admin1" and "XX99" in c[2] for c in cells), cells
    assert page.locator('#counts [data-count="valid"] strong').inner_text() == "1"
    assert page.locator('#counts [data-count="refused"] strong').inner_text() == "1"
    with officer.api() as api:
        assert (
            sitreps_of(api, country="SDN", period_from="2026-06-01", period_to="2026-06-30") == []
        )
    screenshot(page, "upload-checked-desktop")
    page.click("#import")
    page.wait_for_selector("#report-title:text('Imported')", timeout=30_000)
    with officer.api() as api:
        stored = sitreps_of(api, country="SDN", period_from="2026-06-01", period_to="2026-07-31")
    assert [len(s["lines"]) for s in stored] == [2]
    link = page.locator("#sitreps a").first
    assert link.get_attribute("href") == f"/dashboard/sitrep?id={stored[0]['id']}"


def test_my_sitreps_lists_the_outbox_and_withdraws_with_a_reason(officer: Officer) -> None:
    page = officer.page
    body = {
        "country": "TCD",
        "period_start": "2026-09-01",
        "period_end": "2026-09-30",
        "lines": [
            {
                "sector": "cccm",
                "division": "hod",
                "phase": "response",
                "admin1": "TCD14",
                "people_reached": 300,
            }
        ],
    }
    with officer.api() as api:
        created = api.post("/sitreps", json=body)
        assert created.status_code == 201, created.text
        sitrep_id = created.json()["id"]
    officer.sign_in()
    officer.offline_ready()
    officer.context.set_offline(True)
    officer.head(country="TCD", crisis=None, start="2026-10-01", end="2026-10-31")
    officer.fill_line(0, sector="wash", admin1="TCD14", reached=80)
    officer.submit()
    officer.outcome_state("waiting")
    page.goto(f"{officer.demo.url}/dashboard/sitreps")
    officer.loaded()
    waiting = page.locator('#outbox li[data-state="waiting"]')
    assert waiting.count() == 1
    assert "TCD" in waiting.inner_text()
    assert "Offline" in page.locator("#status").inner_text()
    officer.context.set_offline(False)
    page.click("#send-now")
    page.wait_for_selector('#outbox li[data-state="accepted"]', timeout=20_000)
    page.reload()
    officer.loaded()
    item = page.locator(f'#submitted li[data-sitrep="{sitrep_id}"]')
    assert item.locator("a.amend").get_attribute("href") == f"/dashboard/sitrep?id={sitrep_id}"
    screenshot(page, "sitreps-desktop")
    item.locator("button.withdraw").click()
    reason = page.locator(f"#reason-{sitrep_id}")
    reason.wait_for()
    # Refused without a reason, at the input.
    item.locator("form button[type=submit]").click()
    assert page.locator(f"#reason-{sitrep_id}-msg").is_visible()
    reason.fill("Entered twice: the camp figures are in sitrep 12.")
    item.locator("form button[type=submit]").click()
    page.wait_for_selector(
        f'#submitted li[data-sitrep="{sitrep_id}"][data-status="withdrawn"]', timeout=20_000
    )
    with officer.api() as api:
        withdrawn = api.get(f"/sitreps/{sitrep_id}").json()
        october = sitreps_of(api, country="TCD", period_from="2026-10-01", period_to="2026-10-31")
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["withdrawal_reason"] == "Entered twice: the camp figures are in sitrep 12."
    assert len(october) == 1


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_screenshots_of_every_new_page(browser: Any, demo: Demo, viewport: str) -> None:
    officer = Officer(browser, demo, viewport=viewport)
    page = officer.page
    officer.sign_in()
    officer.head(start="2026-11-01", end="2026-11-30")
    officer.fill_line(
        0, sector="shelter", admin1="Khartoum", reached=900, new=120, split=(300, 200, 200, 150)
    )
    page.locator("#period-end").focus()  # the line's problems show once it is left
    # Nothing is wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["viewport"]["width"]
    screenshot(page, f"form-new-{viewport}")
    for path, name in (("/dashboard/sitreps", "sitreps"), ("/dashboard/upload", "upload")):
        page.goto(officer.demo.url + path)
        officer.loaded()
        assert (
            page.evaluate("document.documentElement.scrollWidth")
            <= (VIEWPORTS[viewport]["viewport"]["width"])
        )
        screenshot(page, f"{name}-{viewport}")
    assert page.locator('script[src*="plotly"]').count() == 0
    if viewport == "phone":
        # The narrowest phones in use: 360 px, nothing to scroll sideways.
        page.set_viewport_size({"width": 360, "height": 780})
        for path in ("/dashboard/sitrep", "/dashboard/sitreps", "/dashboard/upload"):
            page.goto(officer.demo.url + path)
            officer.loaded()
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    officer.close()


def test_keep_me_signed_in_lasts_until_sign_out(officer: Officer) -> None:
    page = officer.page
    officer.sign_in("/dashboard/sitreps")
    officer.offline_ready()
    # By default a new tab (a new sessionStorage) has to sign in.
    other = officer.context.new_page()
    other.goto(f"{officer.demo.url}/dashboard/sitreps")
    other.wait_for_url("**/dashboard/sign-in?next=*")
    other.close()
    officer.keep_signed_in()
    other = officer.context.new_page()
    other.goto(f"{officer.demo.url}/dashboard/sitreps")
    other.wait_for_selector('body[data-loaded="true"]', timeout=20_000)
    assert "demo-field" in other.locator("#who").inner_text()
    other.close()
    page.click("#sign-out")
    page.wait_for_url("**/dashboard/sign-in")
    page.wait_for_timeout(500)
    other = officer.context.new_page()
    other.goto(f"{officer.demo.url}/dashboard/sitreps")
    other.wait_for_url("**/dashboard/sign-in?next=*")


def test_start_from_my_last_sitrep_and_the_form_by_keyboard(officer: Officer) -> None:
    page = officer.page
    officer.sign_in()
    page.select_option("#country", "TCD")
    page.wait_for_selector("#admin1-options option", state="attached", timeout=10_000)
    with officer.api() as api:
        latest = api.get(
            "/sitreps", params={"country": "TCD", "status": "submitted", "limit": 1}
        ).json()["items"][0]
    page.focus("#start-from-last")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#status:has-text('{latest['id']}')", timeout=20_000)
    start = date.fromisoformat(latest["period_end"]) + timedelta(days=1)
    assert page.locator("#period-start").input_value() == start.isoformat()
    assert page.locator("#lines fieldset.line").count() == len(latest["lines"])
    first = latest["lines"][0]
    assert officer.line(0).locator('[data-field="people_reached"]').input_value() == str(
        first["people_reached"]
    )
    # Lines are added and removed by keyboard, the focus following.
    count = len(latest["lines"])
    page.focus("#add-line")
    page.keyboard.press("Enter")
    assert page.locator("#lines fieldset.line").count() == count + 1
    focused = page.locator(":focus")
    assert focused.get_attribute("data-field") == "sector"
    page.keyboard.press("Tab")
    assert page.locator(":focus").get_attribute("data-field") == "division"
    last = officer.line(count)
    last.locator("[data-action=remove]").focus()
    page.keyboard.press("Enter")
    assert page.locator("#lines fieldset.line").count() == count
    # Every input has a visible label.
    for node in page.locator("#sitrep input, #sitrep select, #sitrep textarea").all():
        label = page.locator(f'label[for="{node.get_attribute("id")}"]')
        assert label.count() == 1 and label.is_visible(), node.get_attribute("id")


def test_kept_signed_in_the_worker_sends_the_outbox_with_no_page_open(officer: Officer) -> None:
    page = officer.page
    cdp = officer.context.new_cdp_session(page)
    registrations: dict[str, str] = {}
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.update(
            {r["scopeURL"]: r["registrationId"] for r in e["registrations"]}
        ),
    )
    cdp.send("ServiceWorker.enable")
    officer.sign_in("/dashboard/sitreps")
    officer.offline_ready()
    officer.keep_signed_in()
    page.goto(f"{officer.demo.url}/dashboard/sitrep")
    officer.loaded()
    officer.context.set_offline(True)
    officer.head(country="TCD", crisis=None, start="2026-11-01", end="2026-11-30")
    officer.fill_line(0, sector="health", admin1="TCD17", reached=75)
    officer.submit()
    officer.outcome_state("waiting")
    # Every page of the dashboard closed; then the connection returns and the browser calls
    # the worker's Background Sync (dispatched here through the DevTools protocol).
    page.goto("about:blank")
    officer.context.set_offline(False)
    scope = f"{officer.demo.url}/dashboard/"
    assert scope in registrations
    cdp.send(
        "ServiceWorker.dispatchSyncEvent",
        {
            "origin": officer.demo.url,
            "registrationId": registrations[scope],
            "tag": "outbox",
            "lastChance": False,
        },
    )
    with officer.api() as api:
        for _ in range(40):
            stored = sitreps_of(
                api, country="TCD", period_from="2026-11-01", period_to="2026-11-30"
            )
            if stored:
                break
            page.wait_for_timeout(500)
    assert [s["lines"][0]["people_reached"] for s in stored] == [75]

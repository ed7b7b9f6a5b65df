"""A country's page shows where the year's figure may count the same people twice (GET
/api/v1/reporting/double-counting; DOMAIN.md, "Cumulative figures"). This module has a demo
server of its own (the `demo` fixture is per module), to which it adds a slot that a field
office reports monthly with every month's reach as new."""

from __future__ import annotations

from typing import Any

import httpx

from tests.dashboard.browser.conftest import api
from tests.factories import line, sitrep


def test_sudan_page_lists_the_slots_that_may_count_people_twice(tab: Any, demo: Any) -> None:
    # September and October, each month's 900 people given as new: both count, 1,800.
    for start, end in (("2024-09-01", "2024-09-30"), ("2024-10-01", "2024-10-31")):
        body = sitrep(
            line("cash", division="prd", phase="recovery", admin1="SD15", reached=900),
            start=start,
            end=end,
        )
        created = httpx.post(
            f"{demo.url}/api/v1/sitreps",
            json=body,
            headers={"Authorization": f"Bearer {demo.tokens['demo-field']}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
    answer = api(demo, "demo-hq", "/reporting/double-counting", year=2024)
    # The demo's offices report year-to-date or different figures: only this slot is flagged.
    [sudan] = answer["countries"]
    [slot] = sudan["slots"]
    assert (sudan["country"], slot["sector"], slot["admin1"]) == ("SDN", "cash", "SD15")
    assert (slot["periods"], slot["people_reached"]) == (2, 1800)

    t = tab()
    t.sign_in("demo-hq", "/dashboard/country?country=SDN&year=2024")
    assert t.page.locator("#flags-title").inner_text() == "Possible double counting, 2024"
    rows = t.page.locator("#table-flags tbody tr")
    assert rows.count() == 1
    assert rows.get_attribute("data-sector") == "cash"
    assert rows.get_attribute("data-admin1") == "SD15"
    cells = [c.inner_text() for c in rows.locator("td").all()]
    assert cells[:4] == ["Cash-based interventions", "Peace and Recovery", "Recovery", "Aj Jazirah"]
    assert t.figure("#table-flags [data-field=periods]") == 2
    assert t.figure("#table-flags [data-field=people_reached]") == 1800
    share = float(rows.locator("[data-field=share]").get_attribute("data-value") or "")
    assert share == slot["share"] > 0
    lead = t.page.locator("#flags-lead").inner_text()
    assert lead.startswith(f"{sudan['flagged_reach']:,} people reached (")
    assert "Ask the office for year-to-date (cumulative) figures." in lead
    t.shot("country-flags")

    # A year with nothing flagged says so, with no table.
    t.choose("year", "2025")
    assert t.page.locator("#flags-lead").inner_text() == (
        "No place reports the same figure as new in two or more sitreps of 2025."
    )
    assert t.page.locator("#table-flags tr").count() == 0

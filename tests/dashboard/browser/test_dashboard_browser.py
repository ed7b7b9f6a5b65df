"""The dashboard in headless Chromium, on the demo data: sign in with a token, open each
page, change filters, and check that every number shown is the API's (fetched here with
httpx), on a desktop and a phone viewport, saving screenshots of each page.

The issue's test of done: a headquarters user who has never seen the tool finds people
reached in Sudan in 2024 by sector (overview → Sudan → year 2024), and which offices are
late (the "Reporting completeness" item of the navigation)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlparse

import openpyxl
import pytest

from tests.dashboard.browser.conftest import VIEWPORTS, Demo, Tab, api, formatted

VIEWPORT_NAMES = list(VIEWPORTS)


def summed(rows: list[dict[str, Any]], key: str, field: str) -> dict[Any, int]:
    sums: dict[Any, int] = defaultdict(int)
    for row in rows:
        sums[row[key]] += row[field]
    return dict(sums)


# --- overview ---------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_overview_shows_the_api_totals_and_follows_filters(
    tab: Any, demo: Demo, viewport: str
) -> None:
    t = tab(viewport)
    t.sign_in("demo-hq", shot=True)
    rows = api(demo, "demo-hq", "/totals")["rows"]
    year = max(r["year"] for r in rows)
    assert t.page.locator("#filter-year").input_value() == str(year)
    in_year = [r for r in rows if r["year"] == year]
    assert t.figure("#kpi-unique") == sum(r["people_reached_unique"] for r in in_year)
    assert t.figure("#kpi-sum") == sum(r["people_reached"] for r in in_year)
    # per year, both ways of counting
    per_year = t.figures("#table-years tbody tr", "year", "[data-field=people_reached_unique]")
    assert per_year == {str(y): v for y, v in summed(rows, "year", "people_reached_unique").items()}
    # the countries of the year, largest first, each a link to its page
    countries = t.figures(
        "#table-countries tbody tr", "country", "[data-field=people_reached_unique]"
    )
    assert countries == {r["country"]: r["people_reached_unique"] for r in in_year}
    assert list(countries.values()) == sorted(countries.values(), reverse=True)
    assert {"SDN", "TCD", "HTI", "AFG", "TUR", "BGD"} <= set(countries)
    # the splits of the year
    for group in ("sector", "division", "phase"):
        expected = api(demo, "demo-hq", "/totals", year=year, group_by=group)["rows"]
        shown = json.loads(t.page.locator(f"#chart-{group}").get_attribute("data-values") or "")
        assert shown == summed(expected, group, "people_reached"), group
        assert t.page.locator(f"#chart-{group} .main-svg").count() >= 1, "plotly drew nothing"
    # the explanation of unique vs by-sector sum, shown on hover or tap
    t.page.locator(".kpi .info-button").first.hover()
    tip = t.page.locator(".kpi .tip").first
    assert tip.is_visible()
    assert "largest sector in each place" in tip.inner_text()
    assert "once per sector that helped them" in tip.inner_text()
    t.page.mouse.move(0, 0)
    t.shot("overview")

    # A filter changes the URL and the numbers.
    t.choose("sector", "wash")
    assert t.query() == {"sector": "wash"}
    wash = api(demo, "demo-hq", "/totals", sector="wash", year=year)["rows"]
    assert t.figure("#kpi-sum") == sum(r["people_reached"] for r in wash)
    assert t.figure("#kpi-unique") == sum(r["people_reached_unique"] for r in wash)
    t.choose("year", str(year - 1))
    assert t.query() == {"sector": "wash", "year": str(year - 1)}
    earlier = api(demo, "demo-hq", "/totals", sector="wash", year=year - 1)["rows"]
    assert t.figure("#kpi-sum") == sum(r["people_reached"] for r in earlier)
    t.shot("overview-filtered")

    # The URL is the view: opened as it is, in a new tab, it shows the same numbers.
    shared = t.page.url
    other = tab(viewport)
    other.sign_in("demo-hq", urlparse(shared).path + "?" + urlparse(shared).query)
    assert other.page.locator("#filter-sector").input_value() == "wash"
    assert other.figure("#kpi-sum") == sum(r["people_reached"] for r in earlier)
    # Back goes to the previous filters.
    t.page.go_back()
    t.loaded()
    assert t.query() == {"sector": "wash"}
    assert t.page.locator("#filter-year").input_value() == str(year)


def test_overview_needs_few_api_calls(tab: Any) -> None:
    t = tab()
    t.sign_in("demo-hq")
    t.api_calls.clear()
    t.page.reload()
    t.loaded()
    # Reference lists are kept for the session: crises and four totals.
    assert len(t.api_calls) <= 6, t.api_calls


# --- a country --------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_sudan_2024_by_sector_from_the_overview(tab: Any, demo: Demo, viewport: str) -> None:
    t = tab(viewport)
    t.sign_in("demo-hq")
    t.page.click("#table-countries a[data-country=SDN]")
    t.page.wait_for_url("**/dashboard/country?*country=SDN*")
    t.loaded()
    assert t.page.locator("#country-title").inner_text() == "Sudan (SDN)"
    t.choose("year", "2024")
    assert t.query() == {"country": "SDN", "year": "2024"}

    by_sector = api(demo, "demo-hq", "/totals", country="SDN", group_by="sector")["rows"]
    shown = t.figures("#table-sectors tbody tr[data-sector]", "sector", "td[data-year='2024']")
    expected = {r["sector"]: r["people_reached"] for r in by_sector if r["year"] == 2024}
    assert {k: v for k, v in shown.items() if k not in ("sum", "unique")} == expected
    assert set(expected) == {"shelter", "wash", "cccm", "cash", "health"}
    [total] = api(demo, "demo-hq", "/totals", country="SDN", year=2024)["rows"]
    assert shown["sum"] == total["people_reached"] == t.figure("#kpi-sum")
    assert shown["unique"] == total["people_reached_unique"] == t.figure("#kpi-unique")
    assert t.figure("#kpi-periods") == total["people_reached_in_periods"]

    admin1 = api(demo, "demo-hq", "/totals", country="SDN", year=2024, group_by="admin1")
    shown = t.figures("#table-admin1 tbody tr", "admin1", "[data-field=people_reached_unique]")
    assert shown == {r["admin1"] or "": r["people_reached_unique"] for r in admin1["rows"]}

    crises = api(demo, "demo-hq", "/crises", country="SDN")["items"]
    assert t.page.locator("#crises li").count() == len(crises) == 1
    assert crises[0]["name"] in t.page.locator("#crises").inner_text()

    # The latest sitreps of 2024, newest first, and the revisions of one of them.
    sitreps = api(
        demo,
        "demo-hq",
        "/sitreps",
        country="SDN",
        period_from="2024-01-01",
        period_to="2024-12-31",
        limit=10,
    )["items"]
    items = t.page.locator("details.sitrep")
    assert [int(i.get_attribute("data-sitrep") or "") for i in items.all()] == [
        s["id"] for s in sitreps
    ]
    amended = next(s for s in sitreps if s["revision"] > 1)
    item = t.page.locator(f"details.sitrep[data-sitrep='{amended['id']}']")
    item.locator("summary").click()
    item.locator(".revisions[data-loaded]").wait_for()
    revisions = api(demo, "demo-hq", f"/sitreps/{amended['id']}/revisions")["items"]
    assert item.locator(".revision").count() == len(revisions) == amended["revision"]
    t.shot("country-sudan-2024")


def percent(ratio: float, digits: int = 1) -> str:
    """A ratio as the English dashboard writes it: a percentage, at most ``digits`` decimals
    (coverage: 2, the whole precision of the API's 4 decimals of a ratio)."""
    step = Decimal(1).scaleb(-digits)
    shown = Decimal(str(ratio * 100)).quantize(step, rounding=ROUND_HALF_UP)
    return f"{shown.normalize():f}%"


def change_text(now: int, before: int) -> str:
    """The change from the year before as the dashboard writes it: signed, 0 without one."""
    delta = now - before
    ratio = percent(delta / before)
    plus, ratio_plus = ("+" if delta > 0 else ""), ("+" if delta > 0 and ratio != "0%" else "")
    return f"{plus}{formatted(delta)} ({ratio_plus}{ratio})"


SEX_AGE = ("women", "men", "girls", "boys", "people_reached_not_disaggregated")


def test_overview_answers_reached_of_targeted_of_in_need_and_against_last_year(
    tab: Any, demo: Demo
) -> None:
    t = tab()
    t.sign_in("demo-hq")
    t.choose("year", "2024")
    rows = api(demo, "demo-hq", "/totals", year=2024)["rows"]
    assert t.figure("#kpi-targeted") == sum(r["people_targeted_unique"] for r in rows)
    # No figures for 2023: nothing to compare with.
    assert t.page.locator("#kpi-change").inner_text() == "no figures for 2023"
    # Each country's target, people in need and coverage, as the API gives them: the real
    # 2024 needs overviews of Afghanistan and Sudan, unknown elsewhere.
    targeted = t.figures(
        "#table-countries tbody tr", "country", "[data-field=people_targeted_unique]"
    )
    assert targeted == {r["country"]: r["people_targeted_unique"] for r in rows}
    for r in rows:
        row = t.page.locator(f"#table-countries tr[data-country={r['country']}]")
        need = row.locator("[data-field=people_in_need]")
        coverage = row.locator("[data-field=coverage]")
        if r["people_in_need"] is None:
            assert need.inner_text() == coverage.inner_text() == "unknown", r["country"]
            assert r["coverage"] is None
        else:
            assert int(need.get_attribute("data-value") or "") == r["people_in_need"]
            assert float(coverage.get_attribute("data-value") or "") == r["coverage"]
            assert coverage.inner_text() == percent(r["coverage"], 2)
    assert {r["country"] for r in rows if r["people_in_need"]} == {"AFG", "SDN"}
    # The split by sex and age of the year, which adds up to the by-sector sum.
    split = {f: t.figure(f"#table-sexage td[data-field={f}]") for f in SEX_AGE}
    assert split == {f: sum(r[f] for r in rows) for f in SEX_AGE}
    assert sum(split.values()) == t.figure("#kpi-sum") > 0
    assert split["women"] > 0 and split["boys"] > 0
    t.shot("overview-2024-figures")

    # 2025 against 2024: the change, absolute and in %, overall and per country.
    t.choose("year", "2025")
    later = {r["country"]: r for r in api(demo, "demo-hq", "/totals", year=2025)["rows"]}
    earlier = {r["country"]: r for r in rows}
    now = sum(r["people_reached_unique"] for r in later.values())
    before = sum(r["people_reached_unique"] for r in earlier.values())
    kpi = t.page.locator("#kpi-change")
    assert int(kpi.get_attribute("data-value") or "") == now - before
    assert kpi.inner_text() == change_text(now, before)
    for code, r in later.items():
        cell = t.page.locator(f"#table-countries tr[data-country={code}] [data-field=change]")
        expected = change_text(r["people_reached_unique"], earlier[code]["people_reached_unique"])
        assert cell.inner_text() == expected, code


# Each drawn country of the map: its code, its value and its fill, as plotly.js bound them.
MAP_LOCATIONS = """() => [...document.querySelectorAll('#chart-map path.choroplethlocation')]
  .map((p) => [p.__data__.loc, p.__data__.z, getComputedStyle(p).fill])"""


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_overview_maps_the_years_reach_by_country(tab: Any, demo: Demo, viewport: str) -> None:
    t = tab(viewport)
    t.sign_in("demo-hq")
    t.choose("year", "2024")
    rows = api(demo, "demo-hq", "/totals", year=2024)["rows"]
    reach = {r["country"]: r["people_reached_unique"] for r in rows}
    node = t.page.locator("#chart-map")
    assert json.loads(node.get_attribute("data-values") or "") == reach
    # One shape per country with figures, each coloured by its reach, the largest darkest.
    drawn = t.page.evaluate(MAP_LOCATIONS)
    assert {code: z for code, z, _ in drawn} == reach
    assert len(drawn) == len(reach) >= 5
    fills = {code: fill for code, _, fill in drawn}
    assert fills[max(reach, key=lambda c: reach[c])] == "rgb(0, 51, 160)"
    assert len(set(fills.values())) > 1
    # The land of the other countries is drawn too: the boundaries came from this service,
    # and nothing from another host.
    loaded = t.page.evaluate("() => performance.getEntriesByType('resource').map((e) => e.name)")
    assert f"{demo.url}/dashboard/vendor/world_110m.json" in loaded
    assert all(name.startswith(demo.url) for name in loaded), loaded
    assert node.locator("path.choroplethlocation").count() == len(reach)
    assert node.locator(".layer.land path").count() == 1
    assert "Sudan" in (node.get_attribute("aria-label") or "")
    t.shot("overview-map")
    # 2025: the map follows the year.
    t.choose("year", "2025")
    later = {
        r["country"]: r["people_reached_unique"]
        for r in api(demo, "demo-hq", "/totals", year=2025)["rows"]
    }
    assert {code: z for code, z, _ in t.page.evaluate(MAP_LOCATIONS)} == later


def test_map_without_boundaries_says_so_and_keeps_the_table(tab: Any, demo: Demo) -> None:
    t = tab()
    t.page.route(
        "**/dashboard/vendor/world_110m.json",
        lambda route: route.fulfill(status=404, content_type="application/problem+json", body="{}"),
    )
    t.sign_in("demo-hq", "/dashboard/?year=2024")
    node = t.page.locator("#chart-map")
    assert node.get_attribute("data-unavailable") == "true"
    assert node.inner_text().startswith("The map's country boundaries are not installed")
    rows = api(demo, "demo-hq", "/totals", year=2024)["rows"]
    assert t.page.locator("#table-countries tbody tr").count() == len(rows)
    # The browser and plotly.js log the 404 they were given; nothing else may go wrong.
    assert t.errors and all("404" in e or "could not find topojson" in e for e in t.errors), (
        t.errors
    )
    t.errors.clear()


def test_sudan_page_answers_reached_of_targeted_of_in_need(tab: Any, demo: Demo) -> None:
    t = tab()
    t.sign_in("demo-hq", "/dashboard/country?country=SDN&year=2024")
    [total] = api(demo, "demo-hq", "/totals", country="SDN", year=2024)["rows"]
    assert total["people_in_need"] == 24_786_370  # the real HNO's intersectoral figure
    assert t.figure("#kpi-in-need") == total["people_in_need"]
    coverage = t.page.locator("#kpi-coverage")
    assert float(coverage.get_attribute("data-value") or "") == total["coverage"]
    assert coverage.inner_text() == percent(total["coverage"], 2)
    assert t.figure("#kpi-targeted") == total["people_targeted_unique"]
    assert t.page.locator("#kpi-change").inner_text() == "no figures for 2023"
    # per sector: reached, targeted, in need and coverage, then the people (unique)
    by_sector = api(demo, "demo-hq", "/totals", country="SDN", year=2024, group_by="sector")
    for r in by_sector["rows"]:
        row = t.page.locator(f"#table-needs tr[data-sector={r['sector']}]")
        assert (
            int(row.locator("[data-field=people_reached]").get_attribute("data-value") or "")
            == r["people_reached"]
        )
        assert (
            int(row.locator("[data-field=people_targeted]").get_attribute("data-value") or "")
            == r["people_targeted"]
        )
        need = row.locator("[data-field=people_in_need]")
        if r["people_in_need"] is None:  # cash: no need in the overview
            assert need.inner_text() == "unknown", r["sector"]
        else:
            assert int(need.get_attribute("data-value") or "") == r["people_in_need"]
            assert row.locator("[data-field=coverage]").inner_text() == percent(r["coverage"], 2)
    assert {r["sector"]: r["people_in_need"] for r in by_sector["rows"]} == {
        "shelter": 8_554_095,
        "wash": 18_982_714,
        "cccm": 3_177_463,
        "cash": None,
        "health": 14_735_162,
    }
    unique = t.page.locator("#table-needs tr[data-sector=unique]")
    assert (
        int(unique.locator("[data-field=people_in_need]").get_attribute("data-value") or "")
        == total["people_in_need"]
    )
    split = {f: t.figure(f"#table-sexage td[data-field={f}]") for f in SEX_AGE}
    assert split == {f: total[f] for f in SEX_AGE}
    assert sum(split.values()) == total["people_reached"]
    t.shot("country-sudan-2024-figures")

    # Chad has no needs overview loaded: unknown, never 0.
    t.choose("country", "TCD")
    assert t.page.locator("#kpi-in-need").inner_text() == "unknown"
    assert t.page.locator("#kpi-coverage").inner_text() == "unknown"


def test_countries_page_without_a_country_offers_them(tab: Any, demo: Demo) -> None:
    t = tab()
    t.sign_in("demo-hq")
    t.page.get_by_role("link", name="Countries", exact=True).click()
    t.page.wait_for_url("**/dashboard/country*")
    t.loaded()
    rows = api(demo, "demo-hq", "/totals")["rows"]
    countries = {r["country"] for r in rows}
    links = t.page.locator("#countries a[data-country]")
    assert {a.get_attribute("data-country") for a in links.all()} == countries
    # each with its figures of the latest year
    latest = max(r["year"] for r in rows)
    title = t.page.locator("#countries-title").inner_text()
    assert title == f"Countries: people reached in {latest}"
    of_year = {r["country"]: r for r in rows if r["year"] == latest}
    for field in ("people_reached_unique", "people_reached"):
        shown = t.figures("#countries tbody tr", "country", f"[data-field={field}]")
        assert shown == {c: of_year[c][field] if c in of_year else 0 for c in countries}
    t.shot("countries")
    t.choose("country", "TCD")
    assert t.query()["country"] == "TCD"
    assert t.page.locator("#country-title").inner_text() == "Chad (TCD)"


def _downloaded(t: Tab, format: str) -> list[dict[str, str]]:
    """Clicks the page's download button of ``format``; the saved file's rows (below the
    HXL hashtag row), every value as text."""
    with t.page.expect_download() as saving:
        t.page.click(f"#downloads button[data-format={format}]")
    download = saving.value
    assert download.suggested_filename.startswith("crisis-tracker-totals-")
    assert download.suggested_filename.endswith(f".{format}")
    path = download.path()
    if format == "csv":
        with open(path, encoding="utf-8") as f:
            header, hashtags, *rows = list(csv.reader(io.StringIO(f.read())))
    else:
        with open(path, "rb") as f:
            sheet = openpyxl.load_workbook(io.BytesIO(f.read()), read_only=True).active
        header, hashtags, *rows = [
            ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
        ]
    assert hashtags[header.index("people_reached")] == "#reached"
    # (A sheet's row ends at its last value: empty cells at its end are not stored.)
    return [dict(zip(header, row + [""] * (len(header) - len(row)), strict=True)) for row in rows]


FIELDS = ("country", "year", "people_reached", "people_reached_unique", "people_targeted")


@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_downloads_hold_exactly_the_view_on_the_screen(tab: Any, demo: Demo, format: str) -> None:
    t = tab()
    t.sign_in("demo-hq", "/dashboard/?year=2024&sector=wash")
    expected = api(demo, "demo-hq", "/totals", year=2024, sector="wash")["rows"]
    assert len(expected) >= 2
    rows = _downloaded(t, format)
    assert [{f: r[f] for f in FIELDS} for r in rows] == [
        {f: str(e[f]) for f in FIELDS} for e in expected
    ]
    # the countries table shows the same figures
    shown = t.figures("#table-countries tbody tr", "country", "[data-field=people_reached]")
    assert shown == {r["country"]: int(r["people_reached"]) for r in rows}

    # A country's page: its table by sector and year, every year.
    t.goto("/dashboard/country?country=SDN&year=2024&phase=response")
    t.loaded()
    expected = api(demo, "demo-hq", "/totals", country="SDN", phase="response", group_by="sector")
    rows = _downloaded(t, format)
    fields = (*FIELDS, "sector")
    assert [{f: r[f] for f in fields} for r in rows] == [
        {f: str(e[f]) for f in fields} for e in expected["rows"]
    ]
    assert len({r["year"] for r in rows}) > 1  # every year of the table, not the chosen one
    t.shot(f"downloads-{format}")

    # Without a country chosen, nothing to download.
    t.goto("/dashboard/country")
    t.loaded()
    assert t.page.locator("#downloads button").count() == 0


# --- reporting completeness -------------------------------------------------------------


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_completeness_grid_shows_who_is_late(tab: Any, demo: Demo, viewport: str) -> None:
    t = tab(viewport)
    t.sign_in("demo-hq")
    t.page.get_by_role("link", name="Reporting completeness").first.click()
    t.page.wait_for_url("**/dashboard/completeness*")
    t.loaded()
    data = api(demo, "demo-hq", "/reporting/completeness")
    assert t.page.locator("#filter-year").input_value() == str(data["year"])
    _assert_grid(t, data)
    late = {o["country"] for o in data["offices"] if o["missing"]}
    assert late == {"HTI", "AFG", "SYR"}  # the demo's late offices
    shown = t.page.locator("#late li[data-country]")
    assert {li.get_attribute("data-country") for li in shown.all()} == late
    assert t.page.locator("#late-title").inner_text().startswith(f"3 of {len(data['offices'])}")
    t.shot("completeness")

    t.choose("year", str(data["year"] - 1))
    assert t.query() == {"year": str(data["year"] - 1)}
    _assert_grid(t, api(demo, "demo-hq", "/reporting/completeness", year=data["year"] - 1))


def test_completeness_of_a_year_not_started_says_nothing_is_due(tab: Any, demo: Demo) -> None:
    """Not "0 of 7 late" nor "every office has a sitrep": no month of the year is over."""
    data = api(demo, "demo-hq", "/reporting/completeness")
    coming = int(data["as_of"][:4]) + 1
    ahead = api(demo, "demo-hq", "/reporting/completeness", year=coming)
    assert ahead["offices"] and all(o["missing"] == 0 for o in ahead["offices"])
    t = tab()
    t.sign_in("demo-hq", f"/dashboard/completeness?year={coming}")
    assert t.page.locator("#late-title").inner_text() == f"Nothing is due for {coming} yet"
    assert t.page.locator("#late li").inner_text().startswith(f"No month of {coming} is over yet")
    assert t.page.locator("#late li[data-country]").count() == 0
    _assert_grid(t, ahead)


def _assert_grid(t: Tab, data: dict[str, Any]) -> None:
    rows = t.page.locator("#grid tbody tr[data-country]")
    assert rows.count() == len(data["offices"])
    for office in data["offices"]:
        row = t.page.locator(f"#grid tbody tr[data-country='{office['country']}']")
        cells = row.locator("td.cell")
        shown = [
            (c.get_attribute("data-state"), int(c.get_attribute("data-count") or ""))
            for c in cells.all()
        ]
        assert shown == [(m["state"], m["sitreps"]) for m in office["months"]], office["country"]
        # What a reader sees: the count, or a mark for each other state.
        marks = {"missing": "\u2715", "not_due": "\u00b7", "not_expected": "\u2013"}
        texts = [c.inner_text().strip() for c in cells.all()]
        assert texts == [
            str(count) if state == "reported" else marks[state or ""] for state, count in shown
        ]


# --- scope, roles and sign-in -----------------------------------------------------------


def test_field_officer_sees_only_own_countries(tab: Any, demo: Demo) -> None:
    t = tab()
    t.sign_in("demo-field")
    countries = t.figures(
        "#table-countries tbody tr", "country", "[data-field=people_reached_unique]"
    )
    assert set(countries) == {"SDN", "TCD"}
    crises = t.page.locator("#filter-crisis_id option").all_inner_texts()
    assert crises == ["All crises", "Sudan conflict and regional displacement"]
    t.shot("overview-field")

    # Another country's page says so, and offers the officer's own.
    t.goto("/dashboard/country?country=HTI")
    t.loaded("error")
    assert "not one of your countries" in t.page.locator("#status").inner_text()
    options = t.page.locator("#filter-country option").all_inner_texts()
    assert options == ["Choose a country", "Chad", "Sudan"]
    t.shot("country-field-other-country")

    t.goto("/dashboard/completeness")
    t.loaded()
    offices = t.page.locator("#grid tbody tr[data-country]")
    assert {r.get_attribute("data-country") for r in offices.all()} == {"SDN", "TCD"}


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/completeness"])
def test_coordinator_is_told_what_the_role_allows(tab: Any, path: str) -> None:
    """Coordinators read feeds, not totals: the page says so instead of breaking."""
    t = tab()
    t.sign_in("demo-coordinator", path, state="error")
    notice = t.page.locator("#status .error").inner_text()
    assert "coordinator" in notice and "cannot" in notice and "feed" in notice
    assert not t.page.locator("main .card").first.is_visible()
    assert t.page.locator("#who").inner_text().startswith("demo-coordinator (coordinator")
    # The browser logs the 403 answers the page was given.
    assert all("403" in e for e in t.errors), t.errors
    t.errors.clear()
    t.shot(f"coordinator-{path.strip('/').replace('/', '-')}")


def test_sign_in_refuses_a_bad_token_and_sign_out_forgets_it(tab: Any, demo: Demo) -> None:
    t = tab()
    t.goto("/dashboard/sign-in")
    t.page.fill("#token", "ct_not-a-real-token")
    t.page.click("#sign-in button[type=submit]")
    t.page.locator("#status .error").wait_for()
    assert "not valid" in t.page.locator("#status").inner_text()
    assert t.page.url.endswith("/dashboard/sign-in")
    t.errors.clear()  # the browser logs the 401 of the check
    t.shot("sign-in-refused")

    t.sign_in("demo-hq")
    t.page.click("#sign-out")
    t.page.wait_for_url("**/dashboard/sign-in")
    assert t.page.evaluate("sessionStorage.length") == 0
    t.goto("/dashboard/")
    t.page.wait_for_url("**/dashboard/sign-in?next=*")


# --- languages and the top bar ----------------------------------------------------------

TRANSLATED = {
    "fr": {
        "heading": "Personnes atteintes",
        "per_year": "Personnes atteintes par année",
        "unique": "Sans doublons (estimation)",
        "sum": "Somme par secteur",
        "year": "Année",
        "overview": "Vue d\u2019ensemble",
        "tip": "le secteur le plus important de chaque lieu",
        "axis": "Personnes atteintes",
        "division": "Préparation",
        "all_crises": "Toutes les crises",
    },
    "es": {
        "heading": "Personas alcanzadas",
        "per_year": "Personas alcanzadas por año",
        "unique": "Sin duplicados (estimación)",
        "sum": "Suma por sector",
        "year": "Año",
        "overview": "Resumen",
        "tip": "el sector más grande de cada lugar",
        "axis": "Personas alcanzadas",
        "division": "Preparación",
        "all_crises": "Todas las crisis",
    },
}


@pytest.mark.parametrize(
    ("locale", "viewport"),
    [("fr-FR", "desktop"), ("fr-FR", "phone"), ("es-ES", "desktop")],
)
def test_overview_in_the_browsers_language(
    tab: Any, demo: Demo, locale: str, viewport: str
) -> None:
    """A browser in French or Spanish gets the overview in that language, its numbers
    written as the language writes them, and every one equal to the API's."""
    t = tab(viewport, locale=locale)
    words = TRANSLATED[t.lang]
    t.sign_in("demo-hq")
    assert t.page.locator("html").get_attribute("lang") == t.lang
    assert t.page.locator("h1").inner_text() == words["heading"]
    assert t.page.locator("#per-year-title").inner_text().startswith(words["per_year"])
    assert t.page.locator("#filter-year").locator("xpath=..").inner_text().startswith(words["year"])
    assert t.page.locator("#filter-crisis_id option").first.inner_text() == words["all_crises"]
    nav = t.page.locator("header.topbar nav a[aria-current=page]")
    assert nav.inner_text() == words["overview"]
    headers = t.page.locator("#table-years thead th").all_inner_texts()
    assert headers == [words["year"], words["unique"], words["sum"]]

    rows = api(demo, "demo-hq", "/totals")["rows"]
    year = max(r["year"] for r in rows)
    in_year = [r for r in rows if r["year"] == year]
    unique = sum(r["people_reached_unique"] for r in in_year)
    assert t.figure("#kpi-unique") == unique
    assert t.figure("#kpi-sum") == sum(r["people_reached"] for r in in_year)
    assert t.page.locator("#kpi-unique").inner_text() == formatted(unique, t.lang)
    if t.lang == "fr":
        assert "\u202f" in t.page.locator("#kpi-unique").inner_text()
    per_year = t.figures("#table-years tbody tr", "year", "[data-field=people_reached_unique]")
    assert per_year == {str(y): v for y, v in summed(rows, "year", "people_reached_unique").items()}
    countries = t.figures("#table-countries tbody tr", "country", "[data-field=people_reached]")
    assert countries == {r["country"]: r["people_reached"] for r in in_year}

    # Charts: the value axis, the legends and the division names in the language.
    assert t.page.locator("#chart-sector .xtitle").text_content() == words["axis"]
    legend = t.page.locator("#chart-years .legendtext").all_text_contents()
    assert legend == [words["unique"], words["sum"]]
    ticks = " ".join(t.page.locator("#chart-division .ytick").all_text_contents())
    assert words["division"] in ticks
    assert words["division"] in (
        t.page.locator("#chart-division").get_attribute("aria-label") or ""
    )
    # The explanation of unique vs by-sector sum.
    t.page.locator(".kpi .info-button").first.hover()
    assert words["tip"] in t.page.locator(".kpi .tip").first.inner_text()
    t.page.mouse.move(0, 0)
    t.shot(f"overview-{t.lang}")


def test_language_switch_renders_again_without_reload_and_is_remembered(
    tab: Any, demo: Demo
) -> None:
    t = tab()
    t.sign_in("demo-hq")
    assert t.page.locator("h1").inner_text() == "People reached"
    sum_ = t.figure("#kpi-sum")
    t.page.evaluate("window.notReloaded = true")

    t.page.select_option("#language", "fr")
    t.page.wait_for_selector("html[lang=fr]")
    t.loaded()
    t.lang = "fr"
    assert t.page.evaluate("window.notReloaded") is True
    assert t.page.locator("html").get_attribute("lang") == "fr"
    assert t.page.locator("h1").inner_text() == "Personnes atteintes"
    assert t.page.title().startswith("Personnes atteintes")
    assert t.figure("#kpi-sum") == sum_
    assert t.page.locator("#sign-out").inner_text() == "Se déconnecter"
    assert t.page.locator("#language").input_value() == "fr"
    assert t.page.locator("#who").inner_text() == "demo-hq (siège)"

    # Remembered: a reload, and another page, stay in French; so does a filter's change.
    t.page.reload()
    t.loaded()
    assert t.page.evaluate("window.notReloaded") is None
    assert t.page.locator("h1").inner_text() == "Personnes atteintes"
    assert t.figure("#kpi-sum") == sum_
    t.choose("sector", "wash")
    assert t.page.locator("#sector-title").inner_text().startswith("Par secteur")
    t.page.get_by_role("link", name="Complétude des rapports").first.click()
    t.page.wait_for_url("**/dashboard/completeness*")
    t.loaded()
    data = api(demo, "demo-hq", "/reporting/completeness")
    late = [o for o in data["offices"] if o["missing"]]
    assert t.page.locator("#late-title").inner_text() == (
        f"{len(late)} bureaux sur {len(data['offices'])} sont en retard pour {data['year']}"
    )
    assert t.page.locator("#grid thead th").nth(1).inner_text() == "janv."

    # And back to English at once.
    t.page.select_option("#language", "en")
    t.page.wait_for_selector("html[lang=en]")
    t.loaded()
    assert t.page.locator("#late-title").inner_text().startswith(f"{len(late)} of ")


@pytest.mark.parametrize(("user", "forms"), [("demo-field", True), ("demo-hq", False)])
def test_topbar_offers_the_sitrep_form_to_field_officers(tab: Any, user: str, forms: bool) -> None:
    t = tab("phone", viewport={"width": 360, "height": 740})
    t.sign_in(user)
    links = t.page.locator("header.topbar nav a")
    hrefs = [urlparse(a.get_attribute("href") or "").path for a in links.all()]
    pages = ["/dashboard/", "/dashboard/country", "/dashboard/completeness"]
    form_pages = ["/dashboard/sitrep", "/dashboard/sitreps", "/dashboard/upload"]
    assert hrefs == pages + (form_pages if forms else [])
    names = links.all_inner_texts()
    assert ("New sitrep" in names) is forms and ("Upload sheet" in names) is forms
    current = t.page.locator("header.topbar [aria-current]")
    assert current.count() == 1 and current.get_attribute("data-nav") == "overview"
    # The bar fits a 360 px phone: nothing sticks out to the side.
    assert t.page.evaluate("document.documentElement.scrollWidth") <= 360
    box = t.page.locator("header.topbar").bounding_box()
    assert box is not None and box["width"] <= 360
    t.shot(f"topbar-{user}-360")


def test_language_select_is_reached_by_keyboard(tab: Any) -> None:
    t = tab()
    t.sign_in("demo-hq")
    select = t.page.get_by_role("combobox", name="Language")
    assert select.count() == 1
    assert [o.get_attribute("lang") for o in select.locator("option").all()] == ["en", "fr", "es"]
    t.page.locator("body").focus()
    for _ in range(20):
        t.page.keyboard.press("Tab")
        if t.page.evaluate("document.activeElement.id") == "language":
            break
    else:
        pytest.fail("Tab never reached the language select")
    # Chosen with the keyboard, the page switches, and the focus stays on the select.
    t.page.keyboard.press("ArrowDown")
    t.page.wait_for_selector("html[lang=fr]")
    t.loaded()
    assert t.page.locator("h1").inner_text() == "Personnes atteintes"
    assert t.page.evaluate("document.activeElement.id") == "language"
    assert t.page.get_by_role("combobox", name="Langue").count() == 1


def test_sign_in_page_in_spanish(tab: Any) -> None:
    t = tab(locale="es-ES")
    t.goto("/dashboard/sign-in")
    assert t.page.locator("h1").inner_text() == "Iniciar sesión"
    assert t.page.title() == "Iniciar sesión · crisis-tracker"
    assert t.page.locator("label[for=token]").inner_text() == "Token de la API"
    t.page.fill("#token", "ct_not-a-real-token")
    t.page.click("#sign-in button[type=submit]")
    t.page.locator("#status .error").wait_for()
    assert t.page.locator("#status").inner_text() == "Este token no es válido o ha sido revocado."
    t.errors.clear()  # the browser logs the 401 of the check
    # Switched on the page, the message follows.
    t.page.select_option("#language", "fr")
    assert t.page.locator("h1").inner_text() == "Connexion"
    assert t.page.locator("#status .error").inner_text() == (
        "Ce jeton n\u2019est pas valide ou a été révoqué."
    )


def test_empty_view_says_there_is_no_data(tab: Any, demo: Demo) -> None:
    """A year without sitreps: every chart of the year says so in its place, no blank axes."""
    assert api(demo, "demo-hq", "/totals", year=2031)["rows"] == []
    t = tab()
    t.sign_in("demo-hq", "/dashboard/?year=2031")
    for chart in ("map", "countries", "sector", "division", "phase"):
        node = t.page.locator(f"#chart-{chart}")
        assert node.get_attribute("data-empty") == "true", chart
        assert node.inner_text().strip().startswith("No data for this view"), chart
        assert node.locator(".main-svg").count() == 0, chart
    assert t.figure("#kpi-unique") == 0
    t.shot("overview-empty")

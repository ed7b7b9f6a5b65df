"""File import of 5W sheets (issue 3, point 3): POST /api/v1/imports and
`crisis-tracker import`.

The real file is OCHA ROWCA's 2014 cluster monitoring sheet for Mali and Senegal
(tests/data/, see its README). How it maps to the model:

- `#sector` (a cluster name), `#country` (a name), `#adm1` (a name) and `#period_date`
  (a month name) are read as sector, country, admin1 and the month; `year=2014` gives the
  month its year, so each row covers a calendar month.
- `Achieved` is people_reached and `AnnualTarget` people_targeted (column=... options); the
  sheet has no first-time or year-to-date figure, and reports Gao and Mopti for two months,
  so it must say what Achieved counts: figures=period (everyone reached in the month), and
  people_reached_new is people_reached (DOMAIN.md's rule for an absent figure; the report
  warns that the months then add up, tests/imports/test_imports_again.py). The sheet names no
  division or phase: division=hod, phase=response.
- Only rows whose `Indicator` counts people are imported (only=Indicator~people); rows of
  management committees, hygiene kits, areas covered and the like are skipped, and so are
  rows of clusters this service does not track (Food Security, Protection, Education).
- Several organisations report the same month, admin1 and sector: combine=max keeps the
  largest figure of those rows, OCHA's rule against counting a person twice.

That leaves the WASH rows of Mali: May 2014 in Gao (ML07), Tombouctou (ML06) and Mopti
(ML05), June 2014 in Gao and Mopti.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from app.imports import names
from app.imports.console import ProgressBar
from tests.factories import Api, assert_problem, make_user, register_crisis
from tests.imports.sheets import ROWCA, ROWCA_OPTIONS, XLSX, imported, post_sheet

ApiFactory = Callable[..., Api]

# ROWCA's figures are each period's: say so, as an office importing it would.
PERIOD_ROWCA_OPTIONS = [*ROWCA_OPTIONS, ("figures", "period")]
HEADER = (
    "country,crisis_id,period_start,period_end,sector,division,phase,admin1,admin2,"
    "people_reached,people_reached_new,people_targeted,women,men,girls,boys,"
    "persons_with_disabilities,households_assisted,water_points"
)
runner = CliRunner()


def csv_sheet(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


def sitreps_of(user: Api, **params: Any) -> list[dict[str, Any]]:
    response = user.get("/api/v1/sitreps", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def problems(report: dict[str, Any]) -> list[tuple[int | None, str | None]]:
    return [(p["row"], p["column"]) for p in report["problems"]]


def audit_events(hq: Api) -> list[dict[str, Any]]:
    response = hq.get("/api/v1/audit", params={"action": "import.run"})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["items"]
    return events


@pytest.fixture
def mali(api: ApiFactory) -> Api:
    return api("field", countries=["MLI", "SEN"], name="fatoumata")


@pytest.fixture
def sudan(api: ApiFactory) -> Api:
    return api("field", countries=["SDN", "TCD"], name="amina")


# --- the real file ---------------------------------------------------------------------


def test_rowca_wash_rows_import_and_count_in_totals(mali: Api, hq: Api) -> None:
    report = imported(post_sheet(mali, ROWCA.read_bytes(), params=PERIOD_ROWCA_OPTIONS))

    assert report["format"] == "csv" and report["hxl"] is True
    assert report["rows"] == 244
    assert report["problems"] == []
    assert report["rows_skipped"] == 226
    assert report["columns"] == {
        "people_reached": "Achieved",
        "people_targeted": "AnnualTarget",
        "country": "Country",
        "period": "MONTH",
        "sector": "Cluster",
        "admin1": "Admin1",
        "admin2": "Admin2",
    }
    assert (report["sitreps"], report["accepted"], report["refused"], report["lines"]) == (
        2,
        2,
        0,
        5,
    )
    assert report["written"] is True and len(report["created_sitrep_ids"]) == 2
    lines = {
        (r["period_start"], line["admin1"]): (line["people_reached"], line["people_targeted"])
        for r in report["results"]
        for line in r["lines"]
    }
    assert lines == {
        ("2014-05-01", "ML07"): (9600, 52900),  # Gao: UNICEF's 9,600; OXFAM's target
        ("2014-05-01", "ML06"): (53026, None),  # Tombouctou: temporary access to water
        ("2014-05-01", "ML05"): (4046, None),  # Mopti
        ("2014-06-01", "ML07"): (1600, None),
        ("2014-06-01", "ML05"): (27600, None),
    }
    assert {(r["period_start"], r["period_end"]) for r in report["results"]} == {
        ("2014-05-01", "2014-05-31"),
        ("2014-06-01", "2014-06-30"),
    }
    # Skipped rows say why: the indicator counts no people, or the cluster is not tracked.
    reasons = {(s["column"], s["reason"].split(" (")[0]) for s in report["skipped"]}
    assert ("Indicator", "does not contain 'people'") in reasons
    assert ("Cluster", "'Protection' is not one of the sectors this service tracks") in reasons

    totals = hq.get("/api/v1/totals", params={"country": "MLI", "group_by": "admin1"}).json()
    assert [
        (row["year"], row["admin1"], row["people_reached"], row["people_targeted"])
        for row in totals["rows"]
    ] == [
        (2014, "ML05", 4046 + 27600, 0),
        (2014, "ML06", 53026, 0),
        (2014, "ML07", 9600 + 1600, 52900),
    ]
    whole = hq.get("/api/v1/totals", params={"country": "MLI", "year": 2014}).json()["rows"]
    assert whole[0]["people_reached"] == 95872
    assert whole[0]["people_reached_unique"] == 95872
    assert whole[0]["lines"] == 5


def test_rowca_without_combining_refuses_the_repeated_slots(mali: Api) -> None:
    options = [(k, v) for k, v in PERIOD_ROWCA_OPTIONS if k != "combine"]
    report = imported(post_sheet(mali, ROWCA.read_bytes(), params=options))
    assert report["written"] is False and report["refused"] == 2
    first = report["problems"][0]
    # Row 211 is OXFAM's drinking water in Gao in May, row 212 its hygiene messages there.
    assert first["row"] == 212 and first["column"] == "Cluster" and first["status"] == 422
    assert first["reason"].startswith("repeats row 211")
    assert "combine=max" in first["reason"]
    assert all(r["outcome"] == "refused" and r["status"] == 422 for r in report["results"])


def test_rowca_without_a_people_column_is_a_422_naming_it(mali: Api) -> None:
    body = assert_problem(post_sheet(mali, ROWCA.read_bytes(), params=[("year", 2014)]), 422)
    messages = " ".join(e["msg"] for e in body["errors"])
    assert "no column for people_reached" in messages
    assert "no column for division" in messages and "no column for phase" in messages


def test_rowca_through_the_command_line(migrated: str, mali: Api) -> None:
    args = ["import", str(ROWCA), "--user", "fatoumata"]
    for name, value in PERIOD_ROWCA_OPTIONS:
        args += [f"--{name.replace('_', '-')}", str(value)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "244 rows, 226 skipped, 0 problems; 2 sitreps" in result.stdout
    assert "created 2 sitreps" in result.stdout
    assert len(sitreps_of(mali, country="MLI")) == 2

    # The same file again: every slot is taken, so both sitreps are refused (409), row by
    # row, and the command says so with exit code 1.
    again = runner.invoke(cli, args)
    assert again.exit_code == 1
    assert "refused (409)" in again.stdout and "already reports wash/hod/response" in again.stdout
    assert len(sitreps_of(mali, country="MLI")) == 2


# --- formats ---------------------------------------------------------------------------


def test_csv_with_the_api_column_names(sudan: Api, hq: Api) -> None:
    crisis = register_crisis(hq, ["SDN"], name="Sudan")
    sheet = csv_sheet(
        f"SDN,{crisis},2024-03-01,2024-03-31,shelter,hod,response,SD01,,1200,300,1500,"
        "400,300,260,240,30,240,",
        f"SDN,{crisis},2024-03-01,2024-03-31,wash,hod,response,SD01,SD01001,1500,1500,,,,,,,,4",
        "SDN,,2024-04-01,2024-04-30,cccm,prd,recovery,,,800,,,,,,,,,",
        "TCD,,2024-03-01,2024-03-31,health,hod,response,TCD14,,400,,,,,,,,,",
    )
    report = imported(post_sheet(sudan, sheet))
    assert report["hxl"] is False and report["problems"] == []
    assert (report["sitreps"], report["lines"], len(report["created_sitrep_ids"])) == (3, 4, 3)
    first = sudan.get(f"/api/v1/sitreps/{report['created_sitrep_ids'][0]}").json()
    assert first["crisis_id"] == crisis and first["submitted_by"] == "amina"
    shelter, wash = first["lines"]
    assert shelter["people_reached_new"] == 300 and shelter["people_targeted"] == 1500
    assert shelter["disaggregation"] == {"women": 400, "men": 300, "girls": 260, "boys": 240}
    assert shelter["persons_with_disabilities"] == 30
    assert shelter["indicators"] == {"households_assisted": 240}
    assert (wash["admin2"], wash["indicators"]) == ("SD01001", {"water_points": 4})
    countrywide = sudan.get(f"/api/v1/sitreps/{report['created_sitrep_ids'][1]}").json()
    assert countrywide["crisis_id"] is None and countrywide["lines"][0]["admin1"] is None
    assert countrywide["lines"][0]["people_reached_new"] == 800


def test_semicolons_spaces_in_headers_and_windows_encoding(sudan: Api) -> None:
    sheet = (
        "Country;Period start;Period end;Sector;Admin 1;People reached\n"
        "Soudan;2024-03-01;2024-03-31;Santé;Khartoum;1 200\n"
    ).encode("cp1252")
    report = imported(post_sheet(sudan, sheet, params=[("division", "hod"), ("phase", "response")]))
    assert report["problems"] == [], report["problems"]
    (line,) = report["results"][0]["lines"]
    assert (line["sector"], line["admin1"], line["people_reached"]) == ("health", "SD01", 1200)


def test_xlsx_workbook(sudan: Api) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "5W"
    sheet.append(["country", "period_start", "period_end", "sector", "admin1", "people_reached",
                  "women", "men", "girls", "boys", "cash_usd"])  # fmt: skip
    sheet.append(["Sudan", date(2024, 3, 1), date(2024, 3, 31), "Cash", "Khartoum", 100,
                  40, 30, 20, 10, 2500.5])  # fmt: skip
    sheet.append(["SDN", date(2024, 3, 1), date(2024, 3, 31), "Shelter", "North Darfur", 70.0])
    buffer = io.BytesIO()
    workbook.save(buffer)
    report = imported(
        post_sheet(
            sudan,
            buffer.getvalue(),
            content_type=XLSX,
            params=[("division", "hod"), ("phase", "response")],
        )
    )
    assert report["format"] == "xlsx" and report["problems"] == []
    (created,) = report["created_sitrep_ids"]
    cash, shelter = sudan.get(f"/api/v1/sitreps/{created}").json()["lines"]
    assert cash["disaggregation"] == {"women": 40, "men": 30, "girls": 20, "boys": 10}
    assert cash["indicators"] == {"cash_usd": "2500.50"}
    assert (shelter["admin1"], shelter["people_reached"]) == ("SD02", 70)


def test_hxl_tagged_csv_with_the_domain_hashtags(sudan: Api, hq: Api) -> None:
    crisis = register_crisis(hq, ["SDN"], name="Sudan")
    sheet = "\n".join(
        (
            "Pays,Région,Département,Secteur,Division,Phase,Crise,Début,Fin,Atteints,"
            "Nouveaux,Femmes,Hommes,Filles,Garçons,Cible,Note",
            "#country+code,#adm1+code,#adm2+code,#sector+code,#meta+division,#meta+phase,"
            "#crisis+id,#date+start,#date+end,#reached,#reached+new,#reached+f+adults,"
            "#reached+m+adults,#reached+f+children,#reached+m+children,#targeted,",
            f"SDN,SD01,SD01002,shelter,hod,response,{crisis},2024-03-01,2024-03-31,100,60,"
            "30,20,25,25,150,first",
            f"SDN,SD01,,wash,hod,response,{crisis},2024-03-01,2024-03-31,80,,,,,,,",
        )
    )
    report = imported(post_sheet(sudan, sheet))
    assert report["hxl"] is True and report["problems"] == []
    assert report["columns"]["women"] == "Femmes"
    assert report["columns"]["people_reached"] == "Atteints"
    (created,) = report["created_sitrep_ids"]
    shelter, wash = sudan.get(f"/api/v1/sitreps/{created}").json()["lines"]
    assert (shelter["admin2"], shelter["people_reached_new"], shelter["people_targeted"]) == (
        "SD01002",
        60,
        150,
    )
    assert shelter["disaggregation"] == {"women": 30, "men": 20, "girls": 25, "boys": 25}
    assert (wash["people_reached"], wash["people_reached_new"]) == (80, 80)


def test_a_column_named_by_its_hxl_hashtag(sudan: Api) -> None:
    sheet = (
        "Country,Region,Sector,From,To,IDPs assisted,IDPs in area\n"
        "#country+name,#adm1+name,#sector,#date+start,#date+end,#affected+idps+assisted,"
        "#affected+idps\n"
        "Sudan,North Darfur,CCCM,2024-03-01,2024-03-31,350,9000\n"
    )
    params = [
        ("column", "people_reached=#affected+assisted"),
        ("division", "hod"),
        ("phase", "response"),
    ]
    report = imported(post_sheet(sudan, sheet, params=params))
    assert report["columns"]["people_reached"] == "IDPs assisted"
    (line,) = report["results"][0]["lines"]
    assert (line["sector"], line["admin1"], line["people_reached"]) == ("cccm", "SD02", 350)


def test_the_cluster_feed_in_hxl_imports_back(sudan: Api, api: ApiFactory) -> None:
    """A coordinator's HXL feed, written as CSV, is an import file: the tags match."""
    imported(
        post_sheet(
            sudan,
            csv_sheet("SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,1200,300,,,,,,,,"),
        )
    )
    admin = api("admin")
    feed = admin.get("/api/v1/clusters/shelter/feed", params={"format": "hxl"}).json()
    rows = [[("" if v is None else str(v)) for v in row] for row in feed]
    for row in rows[2:]:
        row[rows[0].index("period_start")] = "2024-05-01"
        row[rows[0].index("period_end")] = "2024-05-31"
    body = "\n".join(",".join(row) for row in rows)
    report = imported(post_sheet(admin, body))
    assert report["problems"] == [] and report["accepted"] == 1
    (line,) = report["results"][0]["lines"]
    assert (line["people_reached"], line["people_reached_new"]) == (1200, 300)


# --- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Mali", "MLI"),
        ("Sénégal", "SEN"),
        ("senegal", "SEN"),
        ("SN", "SEN"),
        ("Côte d’Ivoire", "CIV"),  # noqa: RUF001 (the typographic apostrophe of real sheets)
        ("Ivory Coast", "CIV"),
        ("DR Congo", "COD"),
        ("Congo, The Democratic Republic of the", "COD"),
        ("Soudan", "SDN"),
        ("South Sudan", "SSD"),
        ("Turkey", "TUR"),
        ("oPt", "PSE"),
    ],
)
def test_country_names(text: str, code: str) -> None:
    assert names.country(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Kédougou", "SN06"),
        ("KEDOUGOU", "SN06"),
        ("Région de Thiès", "SN13"),
        ("Thies region", "SN13"),
        ("St-Louis", "SN10"),
        ("Saint Louis", "SN10"),
        ("Sédhiou", "SN11"),
        ("sn06", "SN06"),
    ],
)
def test_admin1_names(text: str, code: str) -> None:
    assert names.admin_area(text, country="SEN", level=1) == code


def test_admin_name_that_fits_nothing_gets_a_hint() -> None:
    with pytest.raises(names.Unresolved, match=r"did you mean Kedougou \(SN06\)\?"):
        names.admin_area("Kedugu", country="SEN", level=1)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("WASH", "wash"),
        ("Water, Sanitation and Hygiene", "wash"),
        ("Water Sanitation & Hygiene", "wash"),
        ("Shelter", "shelter"),
        ("Shelter/NFI", "shelter"),
        ("CCCM", "cccm"),
        ("Camp Coordination and Camp Management", "cccm"),
        ("Cash", "cash"),
        ("Multi-Purpose Cash Assistance", "cash"),
        ("Health", "health"),
    ],
)
def test_sector_names(text: str, code: str) -> None:
    assert names.sector(text) == code


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("June", (date(2014, 6, 1), date(2014, 6, 30))),
        ("juin 2015", (date(2015, 6, 1), date(2015, 6, 30))),
        ("2016-02", (date(2016, 2, 1), date(2016, 2, 29))),
        ("December", (date(2014, 12, 1), date(2014, 12, 31))),
    ],
)
def test_month_periods(text: str, period: tuple[date, date]) -> None:
    assert names.month_period(text, year=2014) == period


def test_names_resolved_in_a_sheet(mali: Api) -> None:
    sheet = csv_sheet(
        "Sénégal,,2024-03-01,2024-03-31,WASH,hod,response,Kédougou,Saraya,90,,,,,,,,,",
        "senegal,,2024-03-01,2024-03-31,Shelter/NFI,hod,response,Région de Thiès,,50,,,,,,,,,",
        "SN,,2024-03-01,2024-03-31,Health,hod,response,,Saint-Louis,40,,,,,,,,,",
        "Mali,,2024-03-01,2024-03-31,CCCM,hod,response,TOMBOUCTOU,,30,,,,,,,,,",
    )
    report = imported(post_sheet(mali, sheet))
    assert report["problems"] == []
    senegal, mali_ = report["results"]
    assert [(ln["sector"], ln["admin1"], ln["admin2"]) for ln in senegal["lines"]] == [
        ("wash", "SN06", "SN0603"),
        ("shelter", "SN13", None),
        # An admin2 given alone brings its admin1.
        ("health", "SN10", "SN1003"),
    ]
    assert (senegal["country"], mali_["country"], mali_["lines"][0]["admin1"]) == (
        "SEN",
        "MLI",
        "ML06",
    )


def test_unresolvable_rows_are_reported_by_row_column_and_reason(sudan: Api) -> None:
    sheet = csv_sheet(
        "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,",  # row 2: fine
        "Atlantis,,2024-03-01,2024-03-31,shelter,hod,response,,,100,,,,,,,,,",  # 3
        "SDN,,2024-04-01,2024-04-30,Sheltr,hod,response,Gotham,,12a,,,,,,,,,",  # 4
        "TCD,,2024-03-01,2024-03-31,health,hod,response,TCD14,,50,,,10,10,,,,,",  # 5
        "TCD,,2024-04-01,2024-04-30,Nutrition,hod,response,TCD14,,50,,,,,,,,,",  # 6: skipped
        "TCD,,2024-05-01,2024-05-31,health,hod,response,TCD14,,,,,,,,,,,",  # 7
        "TCD,,2024-06-01,2024-06-31,health,hod,response,TCD14,,60,70,,,,,,,,",  # 8
    )
    report = imported(post_sheet(sudan, sheet))
    found = {(p["row"], p["column"]): p["reason"] for p in report["problems"]}
    assert found[(3, "country")].startswith("'Atlantis' is not a country name")
    assert "did you mean shelter" in found[(4, "sector")]
    assert found[(4, "admin1")] == "'Gotham' is not an admin1 name or p-code of SDN"
    assert found[(4, "people_reached")] == "'12a' is not a whole number of 0 or more"
    assert "girls, boys are empty" in found[(5, "girls")]
    assert found[(7, "people_reached")] == "people_reached is empty"
    assert found[(8, "period_end")] == "'2024-06-31' is not a date (YYYY-MM-DD)"
    assert all(p["status"] == 422 for p in report["problems"])
    assert [s["row"] for s in report["skipped"]] == [6]
    # Not strict: the good sitrep is written, the others are refused with their rows.
    outcomes = {(r["country"], r["period_start"]): r["outcome"] for r in report["results"]}
    assert outcomes == {
        ("SDN", "2024-03-01"): "created",
        ("SDN", "2024-04-01"): "refused",
        ("TCD", "2024-03-01"): "refused",
        ("TCD", "2024-05-01"): "refused",
    }
    refused = next(r for r in report["results"] if r["rows"] == [4])
    assert refused["problem"]["errors"][0]["loc"] == ["row", 4, "sector"]
    assert [s["country"] for s in sitreps_of(sudan)] == ["SDN"]


def test_rules_of_a_sitrep_point_at_rows_and_columns(sudan: Api) -> None:
    """What only the sitrep's own rules catch (new > reached, an indicator of another
    sector, a p-code of another country) comes back at the row and column too."""
    sheet = csv_sheet(
        "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,120,,,,,,,,",
        "SDN,,2024-03-01,2024-03-31,health,hod,response,TCD14,,10,,,,,,,,,",
        "SDN,,2024-03-01,2024-03-31,wash,hod,response,SD01,,10,,,,,,,,5,",
    )
    report = imported(post_sheet(sudan, sheet))
    found = {(p["row"], p["column"]): p["reason"] for p in report["problems"]}
    assert found == {
        (2, "people_reached_new"): "120 is more than people_reached (100)",
        (3, "admin1"): "TCD14 is in TCD, not SDN",
        (4, "households_assisted"): "households_assisted is an indicator of shelter, not wash; "
        "wash reports water_points, latrines",
    }
    assert report["refused"] == 1 and report["written"] is False


# --- dry runs, strict and non-strict ----------------------------------------------------


def test_dry_run_reports_and_writes_nothing(sudan: Api, hq: Api) -> None:
    sheet = csv_sheet(
        "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,",
        "TCD,,2024-03-01,2024-03-31,health,hod,response,TCD14,,50,,,,,,,,,",
    )
    report = imported(post_sheet(sudan, sheet, params=[("dry_run", "true")]))
    assert report["dry_run"] is True and report["written"] is False
    assert (report["sitreps"], report["accepted"], report["lines"]) == (2, 2, 2)
    assert [r["outcome"] for r in report["results"]] == ["valid", "valid"]
    assert report["created_sitrep_ids"] == [] and all(
        r["sitrep_id"] is None for r in report["results"]
    )
    assert sitreps_of(sudan) == []
    assert audit_events(hq) == []
    # Nothing is held: the real run afterwards writes both.
    assert len(imported(post_sheet(sudan, sheet))["created_sitrep_ids"]) == 2


def test_dry_run_sees_slot_conflicts(sudan: Api) -> None:
    sheet = csv_sheet("SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,")
    imported(post_sheet(sudan, sheet))
    report = imported(post_sheet(sudan, sheet, params=[("dry_run", "true")]))
    (result,) = report["results"]
    assert result["outcome"] == "refused" and result["status"] == 409
    assert report["problems"][0]["row"] == 2 and report["problems"][0]["status"] == 409


def test_strict_writes_nothing_when_one_row_is_bad(sudan: Api, hq: Api) -> None:
    sheet = csv_sheet(
        "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,",
        "TCD,,2024-03-01,2024-03-31,health,hod,response,Nowhere,,50,,,,,,,,,",
    )
    report = imported(post_sheet(sudan, sheet, params=[("strict", "true")]))
    assert report["written"] is False and report["created_sitrep_ids"] == []
    assert problems(report) == [(3, "admin1")]
    assert [r["outcome"] for r in report["results"]] == ["valid", "refused"]
    assert sitreps_of(sudan) == []
    (event,) = audit_events(hq)
    assert event["after"]["written"] is False and event["after"]["strict"] is True


def test_strict_writes_nothing_when_a_row_belongs_to_no_sitrep(sudan: Api) -> None:
    sheet = csv_sheet(
        "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,",
        "Atlantis,,2024-03-01,2024-03-31,health,hod,response,,,50,,,,,,,,,",
    )
    report = imported(post_sheet(sudan, sheet, params=[("strict", "true")]))
    assert report["written"] is False and problems(report) == [(3, "country")]
    assert sitreps_of(sudan) == []


def test_strict_writes_everything_when_all_is_well(sudan: Api) -> None:
    sheet = csv_sheet(
        "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,",
        "TCD,,2024-03-01,2024-03-31,health,hod,response,TCD14,,50,,,,,,,,,",
    )
    report = imported(post_sheet(sudan, sheet, params=[("strict", "true")]))
    assert report["written"] is True and len(sitreps_of(sudan)) == 2


def test_combining_rows_of_one_slot(sudan: Api) -> None:
    rows = (
        "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,80,200,40,30,20,10,5,3,",
        "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,60,,500,,,,,2,4,",
    )
    maximum = imported(post_sheet(sudan, csv_sheet(*rows), params=[("combine", "max")]))
    (line,) = maximum["results"][0]["lines"]
    assert line["rows"] == [2, 3]
    assert (line["people_reached"], line["people_reached_new"], line["people_targeted"]) == (
        100,
        80,
        500,
    )
    written = sudan.get(f"/api/v1/sitreps/{maximum['created_sitrep_ids'][0]}").json()
    assert written["lines"][0]["disaggregation"] == {
        "women": 40,
        "men": 30,
        "girls": 20,
        "boys": 10,
    }
    assert written["lines"][0]["indicators"] == {"households_assisted": 4}

    later = [row.replace("2024-03-01,2024-03-31", "2024-04-01,2024-04-30") for row in rows]
    total = imported(post_sheet(sudan, csv_sheet(*later), params=[("combine", "sum")]))
    (line,) = total["results"][0]["lines"]
    # The second row's people_reached_new is absent, so it is its people_reached (60).
    assert (line["people_reached"], line["people_reached_new"], line["people_targeted"]) == (
        160,
        140,
        700,
    )
    written = sudan.get(f"/api/v1/sitreps/{total['created_sitrep_ids'][0]}").json()
    # Only one row splits by sex and age: the sum cannot be split.
    assert written["lines"][0]["disaggregation"] is None
    assert written["lines"][0]["persons_with_disabilities"] == 7
    assert written["lines"][0]["indicators"] == {"households_assisted": 7}


# --- permissions -----------------------------------------------------------------------


def test_hq_and_coordinators_cannot_import(hq: Api, api: ApiFactory) -> None:
    sheet = csv_sheet("SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,")
    for user in (hq, api("coordinator", clusters=["shelter"])):
        for params in ([], [("dry_run", "true")]):
            body = assert_problem(post_sheet(user, sheet, params=params), 403)
            assert body["type"] == "urn:crisis-tracker:problem:forbidden"
    assert sitreps_of(api("admin")) == []


def test_field_officers_import_only_their_own_countries(api: ApiFactory) -> None:
    senegal_only = api("field", countries=["SEN"])
    sheet = csv_sheet(
        "Mali,,2024-03-01,2024-03-31,wash,hod,response,Gao,,100,,,,,,,,,",
        "Senegal,,2024-03-01,2024-03-31,wash,hod,response,Dakar,,80,,,,,,,,,",
        "Mali,,2024-03-01,2024-03-31,health,hod,response,Mopti,,30,,,,,,,,,",
    )
    report = imported(post_sheet(senegal_only, sheet))
    mali, senegal = report["results"]
    assert (mali["outcome"], mali["status"], mali["sitrep_id"]) == ("refused", 403, None)
    assert senegal["outcome"] == "created"
    assert [(p["row"], p["column"], p["status"]) for p in report["problems"]] == [
        (2, "country", 403),
        (4, "country", 403),
    ]
    assert "MLI" in report["problems"][0]["reason"]
    admin = api("admin")
    assert [s["country"] for s in sitreps_of(admin)] == ["SEN"]


# --- idempotency, audit, malformed files -------------------------------------------------


def test_retrying_an_import_with_its_key_imports_once(sudan: Api, hq: Api) -> None:
    sheet = csv_sheet("SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,")
    key = {"Idempotency-Key": "import-2024-03-sdn"}
    first = post_sheet(sudan, sheet, headers=key)
    again = post_sheet(sudan, sheet, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(sitreps_of(sudan)) == 1
    assert len(audit_events(hq)) == 1
    other = csv_sheet("SDN,,2024-04-01,2024-04-30,shelter,hod,response,SD01,,100,,,,,,,,,")
    assert_problem(post_sheet(sudan, other, headers=key), 422)


def test_a_key_used_for_a_dry_run_is_not_replayed_for_the_real_run(sudan: Api) -> None:
    sheet = csv_sheet("SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,")
    key = {"Idempotency-Key": "dry-then-real"}
    imported(post_sheet(sudan, sheet, params=[("dry_run", "true")], headers=key))
    assert_problem(post_sheet(sudan, sheet, headers=key), 422)


def test_an_import_is_audited_with_a_summary(sudan: Api, hq: Api) -> None:
    sheet = csv_sheet(
        "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,",
        "SDN,,2024-04-01,2024-04-30,shelter,hod,response,Gotham,,100,,,,,,,,,",
    )
    report = imported(post_sheet(sudan, sheet))
    (event,) = audit_events(hq)
    assert (event["actor"], event["entity_type"], event["entity_id"]) == ("amina", "import", None)
    assert event["after"] == {
        "file": None,
        "format": "csv",
        "hxl": False,
        "dry_run": False,
        "strict": False,
        "mode": "create",
        "figures": None,
        "written": True,
        "rows": 2,
        "rows_skipped": 0,
        "problems": 1,
        "sitreps": 2,
        "accepted": 1,
        "refused": 1,
        "created": 1,
        "amended": 0,
        "unchanged": 0,
        "lines": 1,  # the refused row made no line
        "created_sitrep_ids": report["created_sitrep_ids"],
        "amended_sitrep_ids": [],
    }
    submitted = hq.get("/api/v1/audit", params={"action": "sitrep.submit"}).json()["items"]
    assert [e["entity_id"] for e in submitted] == report["created_sitrep_ids"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"", "text/csv", 422, "the file is empty"),
        (b"PK\x03\x04 not really a zip", XLSX, 422, "not an XLSX workbook"),
        (b"country,sector\nSDN,shelter\n", XLSX, 422, "not an XLSX workbook"),
        (b"\x00\x01\x02binary\xff\xfe", "text/csv", 422, "NUL characters"),
        (b"just some words\nand more", "text/csv", 422, "no column for country"),
        (b'"unterminated,quote\n' + b"x" * 200_000, "text/csv", 422, "CSV cannot be read"),
        (b"#country,#adm1\nSDN,SD01\n", "text/csv", 422, "no column for people_reached"),
        (b'{"country": "SDN"}', "application/json", 415, "Content-Type text/csv"),
        (b"country\nSDN\n", "", 415, "not no type"),
    ],
)
def test_malformed_files_are_problems_not_errors(
    sudan: Api, body: bytes, content_type: str, status: int, message: str
) -> None:
    problem = assert_problem(post_sheet(sudan, body, content_type=content_type), status)
    assert message in problem["detail"] or any(message in e["msg"] for e in problem["errors"])


@pytest.mark.parametrize(
    "params",
    [
        [("division", "food")],
        [("column", "no equals sign")],
        [("only", "Indicator")],
        [("combine", "average")],
        [("year", "1066")],
        [("unknown", "1")],
    ],
)
def test_bad_options_are_422(sudan: Api, params: list[tuple[str, str]]) -> None:
    sheet = csv_sheet("SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,")
    body = assert_problem(post_sheet(sudan, sheet, params=params), 422)
    assert body["errors"][0]["loc"][0] == "query"


def test_options_naming_missing_columns_are_422(sudan: Api) -> None:
    sheet = csv_sheet("SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,")
    params = [("column", "people_reached=Achieved"), ("only", "Indicator~people")]
    body = assert_problem(post_sheet(sudan, sheet, params=params), 422)
    assert [e["loc"] for e in body["errors"]] == [["query", "column"], ["query", "only"]]


# --- the command line -------------------------------------------------------------------


def test_command_line_dry_run_and_refusals(migrated: str, tmp_path: Path, sudan: Api) -> None:
    path = tmp_path / "5w.csv"
    path.write_text(
        csv_sheet(
            "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,,",
            "SDN,,2024-04-01,2024-04-30,shelter,hod,response,Gotham,,100,,,,,,,,,",
        )
    )
    dry = runner.invoke(cli, ["import", str(path), "--user", "amina", "--dry-run"])
    assert dry.exit_code == 1, dry.output  # a row was refused
    assert "dry run: nothing was written" in dry.stdout
    assert "'Gotham' is not an admin1 name" in dry.stdout
    assert sitreps_of(sudan) == []

    strict = runner.invoke(cli, ["import", str(path), "--user", "amina", "--strict"])
    assert strict.exit_code == 1
    assert "strict: nothing was written" in strict.stdout
    assert sitreps_of(sudan) == []

    real = runner.invoke(cli, ["import", str(path), "--user", "amina"])
    assert real.exit_code == 1
    assert "created 1 sitreps" in real.stdout
    assert len(sitreps_of(sudan)) == 1


def test_command_line_errors(migrated: str, tmp_path: Path) -> None:
    path = tmp_path / "5w.csv"
    path.write_text(csv_sheet("SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,1,,,,,,,,,"))
    make_user("hq", name="analyst")
    cases = [
        (["--user", "nobody"], "There is no user named 'nobody'"),
        (["--user", "analyst"], "Your role (hq) cannot do this"),
        (["--user", "analyst", "--division", "food"], "division: Input should be"),
    ]
    for args, message in cases:
        result = runner.invoke(cli, ["import", str(path), *args])
        assert result.exit_code == 1 and message in result.stderr, result.output
    missing = runner.invoke(cli, ["import", str(tmp_path / "none.csv"), "--user", "x"])
    assert missing.exit_code == 2


def test_command_line_progress_bar_on_large_files(
    migrated: str, tmp_path: Path, sudan: Api
) -> None:
    areas = ["SD01", "SD02", "SD03", "SD04", "SD05"]
    rows = [
        f"SDN,,2020-{month:02}-01,2020-{month:02}-28,{sector},hod,response,{area},,10,,,,,,,,,"
        for month in range(1, 13)
        for sector in ("shelter", "wash", "cccm", "cash", "health")
        for area in areas
    ]
    path = tmp_path / "year.csv"
    path.write_text(csv_sheet(*rows * 4))  # each slot four times: combine=max
    result = runner.invoke(cli, ["import", str(path), "--user", "amina", "--combine", "max"])
    assert result.exit_code == 0, result.output
    assert "1200 rows" in result.stdout and "created 12 sitreps" in result.stdout
    assert "rows parsed" in result.stderr and "sitreps submitted" in result.stderr


def test_progress_bar_stays_quiet_on_small_files() -> None:
    bar = ProgressBar(min_rows=1000)
    with bar:
        bar("rows", 10, 10)
        bar("sitreps", 1, 1)
    assert bar._progress is None

"""Real 5W sheets imported again and again, in the field's own names and codes (issue 9).

The DTM sheet is built here from IOM's Displacement Tracking Matrix file (tests/data/, see
its README): camp coordination (CCCM) lines, one per admin2 and month, with the internally
displaced people DTM counted there as people reached. Haiti's rows give only names, as
DTM writes them (French départements: "Ouest", "Nord Est", "Sud-Est"); Chad's rows give
DTM's own p-codes (TD07, TD0703: an earlier version of the COD, which now writes TCD07,
TCD0703) with DTM's names beside them. DTM reports some areas twice in a month (a baseline
and a site assessment of the same people, or two rounds): combine=max keeps one figure.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from app.imports import names
from app.reference import catalog as reference
from tests.factories import Api, assert_problem
from tests.imports.sheets import DATA, IMPORTS, ROWCA, ROWCA_OPTIONS, imported, post_sheet

ApiFactory = Callable[..., Api]

DTM = DATA / "iom_dtm_idps_afg_hti_tcd_admin0-2.csv"
DTM_HEADER = [
    "country", "period", "sector", "admin1_pcode", "admin1_name", "admin2_pcode",
    "admin2_name", "people_reached",
]  # fmt: skip
DTM_OPTIONS: list[tuple[str, str]] = [
    ("division", "hod"),
    ("phase", "response"),
    ("figures", "period"),
    ("combine", "max"),
]
runner = CliRunner()


def dtm_rows() -> list[list[str]]:
    """The 5W rows of DTM's admin2 figures for Haiti (names only) and Chad (DTM's codes)."""
    with DTM.open(encoding="utf-8-sig", newline="") as f:
        records = list(csv.DictReader(f))[1:]  # below the HXL hashtags
    rows = []
    for r in records:
        if r["adminLevel"] != "2" or r["admin0Pcode"] not in ("HTI", "TCD"):
            continue
        haiti = r["admin0Pcode"] == "HTI"
        rows.append(
            [
                r["admin0Name"] if haiti else r["admin0Pcode"],
                r["reportingDate"][:7],
                "CCCM",
                "" if haiti else r["admin1Pcode"],
                r["admin1Name"],
                "" if haiti else r["admin2Pcode"],
                r["admin2Name"],
                r["numPresentIdpInd"],
            ]
        )
    return rows


def as_csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DTM_HEADER)
    writer.writerows(rows)
    return out.getvalue()


def recount(rows: list[list[str]]) -> dict[tuple[str, int, str], int]:
    """People reached per country, year and admin1 as DOMAIN.md counts them, figured from
    the sheet by hand: one figure per admin2 and month (the largest, as combine=max), and
    with figures=period every month's people count as new."""
    areas = reference.admin_areas()
    admin1_of_name = {
        ("HTI", names.normalise(name)): code
        for code, area in areas.items()
        if area.country == "HTI" and area.level == 1
        for name in (area.name, *reference.field_names().get(code, ()))
    }
    figure: dict[tuple[str, str, str, str], int] = {}
    for country, month, _, code1, name1, code2, name2, people in rows:
        if country == "Haiti":
            admin1 = admin1_of_name[("HTI", names.normalise(name1))]
            key = ("HTI", month, admin1, names.normalise(name2))
        else:
            admin1 = "TCD" + code1.removeprefix("TD")
            key = ("TCD", month, admin1, code2)
        figure[key] = max(figure.get(key, 0), int(people))
    totals: dict[tuple[str, int, str], int] = defaultdict(int)
    for (country, month, admin1, _), people in figure.items():
        totals[(country, int(month[:4]), admin1)] += people
    return dict(totals)


def totals_by_admin1(hq: Api) -> dict[tuple[str, int, str], int]:
    response = hq.get("/api/v1/totals", params={"country": "HTI,TCD", "group_by": "admin1"})
    assert response.status_code == 200, response.text
    return {
        (row["country"], row["year"], row["admin1"]): row["people_reached"]
        for row in response.json()["rows"]
    }


def counts(report: dict[str, Any]) -> tuple[int, int, int, int]:
    return report["created"], report["amended"], report["unchanged"], report["refused"]


@pytest.fixture
def dtm(api: ApiFactory) -> Api:
    return api("field", countries=["HTI", "TCD"], name="jean")


@pytest.fixture
def mali(api: ApiFactory) -> Api:
    return api("field", countries=["MLI", "SEN"], name="fatoumata")


# --- the DTM sheet: names and codes as the field writes them ----------------------------


def test_dtm_sheet_imports_whole_and_counts_as_a_recount(dtm: Api, hq: Api) -> None:
    rows = dtm_rows()
    assert len(rows) == 1529
    report = imported(post_sheet(dtm, as_csv(rows), params=DTM_OPTIONS))

    assert report["problems"] == [] and report["refused"] == 0
    assert report["rows"] == 1529 and report["rows_skipped"] == 0
    assert report["created"] == report["sitreps"] and report["written"] is True
    notes = {(n["kind"], n["column"], n["note"]): n["rows"] for n in report["notes"]}
    lac = ("pcode", "admin1_pcode", "TD07 is not a current p-code; TCD's p-codes now begin TCD: "
           "Lac is TCD07")  # fmt: skip
    assert len(notes[lac]) == sum(1 for r in rows if r[0] == "TCD")
    assert (
        "pcode",
        "admin2_pcode",
        "TD0703 is not a current p-code; TCD's p-codes now begin TCD: Kaya is TCD0703",
    ) in notes
    # Haiti's admin2 figures repeat month after month: figures=period says what that means.
    assert any(kind == "figures" for kind, _, _ in notes)

    lines = {
        (r["country"], line["admin1"], line["admin2"])
        for r in report["results"]
        for line in r["lines"]
    }
    assert ("HTI", "HT04", "HT0441") in lines  # Nord Est / Valliere
    assert ("HTI", "HT01", "HT0134") in lines  # Ouest / Cornillon/Grd Bois
    assert {admin1 for country, admin1, _ in lines if country == "TCD"} == {"TCD07"}

    expected = recount(rows)
    assert totals_by_admin1(hq) == expected
    assert expected[("HTI", 2024, "HT01")] > 0 and expected[("TCD", 2021, "TCD07")] > 0


def test_upsert_amends_what_changed_creates_what_is_new_and_leaves_the_rest(
    migrated: str, tmp_path: Path, dtm: Api, hq: Api
) -> None:
    """Through the command line: import, edit three cells and add a month, import again."""
    rows = [r for r in dtm_rows() if r[1] >= "2024-01"]
    path = tmp_path / "dtm-5w.csv"
    path.write_text(as_csv(rows), encoding="utf-8")
    args = ["import", str(path), "--user", "jean", "--mode", "upsert"]
    for name, value in DTM_OPTIONS:
        args += [f"--{name}", value]

    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    sitreps = hq.get("/api/v1/sitreps", params={"limit": 1000}).json()["items"]
    total = len(sitreps)
    assert f"mode upsert: {total} create, 0 amend, 0 unchanged, 0 refused" in first.stdout

    # Three cells of three months (of communes DTM reports once that month), and the next
    # month for one commune.
    slots = defaultdict(list)
    for i, row in enumerate(rows):
        slots[tuple(row[:7])].append(i)
    single = [found[0] for found in slots.values() if len(found) == 1]
    picked: dict[str, int] = {}
    for i in single:
        picked.setdefault(rows[i][1], i)
    chosen = [picked[month] for month in sorted(picked)[:3]]
    edits = dict(zip(chosen, ("111", "222", "333"), strict=True))
    before = {int(rows[i][7]) for i in edits}
    edited = [list(r) for r in rows]
    for i, value in edits.items():
        edited[i][7] = value
    edited.append(["Haiti", "2025-12", "CCCM", "", "Ouest", "", "Delmas", "4321"])
    path.write_text(as_csv(edited), encoding="utf-8")

    dry = runner.invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    summary = f"1 to create, 3 to amend, {total - 3} unchanged, 0 refused"
    assert f"mode upsert: {summary}" in dry.stdout
    assert "dry run: nothing was written" in dry.stdout
    assert len(hq.get("/api/v1/sitreps", params={"limit": 1000}).json()["items"]) == total

    second = runner.invoke(cli, args)
    assert second.exit_code == 0, second.output
    assert f"mode upsert: 1 create, 3 amend, {total - 3} unchanged, 0 refused" in second.stdout
    assert "amended 3 sitreps" in second.stdout and "created 1 sitreps" in second.stdout
    assert totals_by_admin1(hq) == recount(edited)

    # Each amended sitrep has a second revision with the old figure and the new.
    amended = [
        s for s in hq.get("/api/v1/sitreps", params={"limit": 1000}).json()["items"]
        if s["revision"] == 2
    ]  # fmt: skip
    assert len(amended) == 3
    seen = set()
    for sitrep in amended:
        old, new = hq.get(f"/api/v1/sitreps/{sitrep['id']}/revisions").json()["items"]
        changed = [
            (a["people_reached"], b["people_reached"])
            for a, b in zip(old["lines"], new["lines"], strict=True)
            if a != b
        ]
        assert len(changed) == 1
        seen.add(changed[0])
    assert {new for _, new in seen} == {111, 222, 333}
    assert {old for old, _ in seen} == before

    third = runner.invoke(cli, args)
    assert third.exit_code == 0, third.output
    assert f"mode upsert: 0 create, 0 amend, {total + 1} unchanged, 0 refused" in third.stdout
    assert "nothing was written: every sitrep is unchanged" in third.stdout


def test_upsert_over_http_lists_changes_and_a_dry_run_predicts_the_real_run(
    dtm: Api, hq: Api
) -> None:
    rows = [r for r in dtm_rows() if r[0] == "TCD"]
    imported(post_sheet(dtm, as_csv(rows), params=DTM_OPTIONS))
    edited = [list(r) for r in rows]
    edited[0][7] = str(int(rows[0][7]) + 1000)
    edited.append(["TCD", "2025-11", "CCCM", "TD07", "Lac", "TD0701", "Mamdi", "500"])
    params = [*DTM_OPTIONS, ("mode", "upsert")]

    dry = imported(post_sheet(dtm, as_csv(edited), params=[*params, ("dry_run", "true")]))
    real = imported(post_sheet(dtm, as_csv(edited), params=params))
    assert counts(dry) == counts(real) == (1, 1, real["sitreps"] - 2, 0)
    assert [r["action"] for r in dry["results"]] == [r["action"] for r in real["results"]]
    assert [r["changes"] for r in dry["results"]] == [r["changes"] for r in real["results"]]
    assert dry["written"] is False and real["written"] is True
    (changed,) = [r for r in real["results"] if r["action"] == "amend"]
    assert changed["outcome"] == "amended" and changed["status"] == 200
    assert real["amended_sitrep_ids"] == [changed["sitrep_id"]]
    (change,) = changed["changes"]
    assert (change["change"], change["field"]) == ("changed", "people_reached")
    assert change["line"] == f"cccm/hod/response at TCD0{rows[0][5][-3:]}"
    assert change["new"] == int(edited[0][7])
    assert totals_by_admin1(hq) == recount(edited)

    again = imported(post_sheet(dtm, as_csv(edited), params=params))
    assert counts(again) == (0, 0, again["sitreps"], 0) and again["written"] is False


def test_update_refuses_what_matches_nothing_and_create_refuses_what_matches(
    dtm: Api,
) -> None:
    rows = [r for r in dtm_rows() if r[0] == "TCD" and r[1] < "2019-01"]
    sheet = as_csv(rows)
    created = imported(post_sheet(dtm, sheet, params=[*DTM_OPTIONS, ("mode", "update")]))
    assert counts(created) == (0, 0, 0, created["sitreps"])
    assert {r["status"] for r in created["results"]} == {404}
    assert "nothing to update" in created["results"][0]["problem"]["detail"]

    imported(post_sheet(dtm, sheet, params=DTM_OPTIONS))
    again = imported(post_sheet(dtm, sheet, params=DTM_OPTIONS))  # mode=create
    assert {r["status"] for r in again["results"]} == {409}
    update = imported(post_sheet(dtm, sheet, params=[*DTM_OPTIONS, ("mode", "update")]))
    assert counts(update) == (0, 0, update["sitreps"], 0)


# --- names and codes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Ouest", "HT01"),
        ("Département de l'Ouest", "HT01"),
        ("Nord Est", "HT04"),
        ("Nord-Est", "HT04"),
        ("NORD-EST", "HT04"),
        ("Nord Ouest", "HT09"),
        ("Sud-Est", "HT02"),
        ("Sud Est", "HT02"),
        ("Grande Anse", "HT08"),
        ("West", "HT01"),
    ],
)
def test_haiti_departements_as_the_field_writes_them(text: str, code: str) -> None:
    assert names.admin_area(text, country="HTI", level=1) == code


@pytest.mark.parametrize(
    ("text", "country", "code"),
    [
        ("Noroeste", "HTI", "HT09"),  # Spanish
        ("Nordeste", "HTI", "HT04"),  # Portuguese
        ("Sudeste", "HTI", "HT02"),
        ("Nord-Kivu", "COD", "CD61"),
        ("Extrême-Nord", "CMR", "CM004"),
        ("Centre Nord", "BFA", "BF49"),
    ],
)
def test_compass_words_in_other_languages(text: str, country: str, code: str) -> None:
    assert names.admin_area(text, country=country, level=1) == code


def test_a_near_miss_hints_the_right_place_first() -> None:
    with pytest.raises(names.Unresolved, match=r"did you mean North-East \(HT04\)\?"):
        names.admin_area("Nord Estt", country="HTI", level=1)
    with pytest.raises(names.Unresolved, match=r"did you mean North-West \(HT09\)\?"):
        names.admin_area("Nord-Ouests", country="HTI", level=1)


def test_earlier_pcodes_by_rule_and_by_the_name_beside_them(dtm: Api) -> None:
    assert names.current_pcode("TD07", country="TCD", level=1) == "TCD07"
    assert names.current_pcode("TD0703", country="TCD", level=2) == "TCD0703"
    assert names.current_pcode("TD0703", country="TCD", level=1) is None
    sheet = as_csv(
        [
            ["TCD", "2024-01", "CCCM", "TD07", "Lac", "", "", "10"],
            ["TCD", "2024-01", "CCCM", "TC99", "Lac", "TC9901", "Kaya", "20"],
            ["TCD", "2024-01", "CCCM", "TC98", "Nowhere", "", "", "30"],
        ]
    )
    report = imported(post_sheet(dtm, sheet, params=[("division", "hod"), ("phase", "response")]))
    notes = {(n["column"], n["note"]): n["rows"] for n in report["notes"]}
    assert notes[("admin1_pcode", "TC99 is not a current p-code; Lac is TCD07")] == [3]
    assert notes[("admin2_pcode", "TC9901 is not a current p-code; Kaya is TCD0703")] == [3]
    assert [(p["row"], p["column"]) for p in report["problems"]] == [(4, "admin1_name")]
    assert "'Nowhere' is not an admin1 name" in report["problems"][0]["reason"]


# --- what the figures mean ----------------------------------------------------------------


def test_rowca_without_figures_stops_and_explains(mali: Api) -> None:
    body = assert_problem(post_sheet(mali, ROWCA.read_bytes(), params=ROWCA_OPTIONS), 422)
    (error,) = body["errors"]
    assert error["loc"] == ["query", "figures"]
    assert (
        "wash/hod/response at ML07 (MLI) for 2 periods of a year (May 2014, June 2014), "
        "and 1 more slot likewise" in error["msg"]
    )
    assert "'new'" in error["msg"] and "'cumulative'" in error["msg"]
    assert "'period'" in error["msg"] and "Nothing was written" in error["msg"]
    assert mali.get("/api/v1/sitreps").json()["items"] == []


def test_rowca_without_figures_on_the_command_line(migrated: str, mali: Api) -> None:
    args = ["import", str(ROWCA), "--user", "fatoumata"]
    for name, value in ROWCA_OPTIONS:
        args += [f"--{name.replace('_', '-')}", str(value)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "--figures" in result.stderr and "Nothing was written" in result.stderr
    with_figures = runner.invoke(cli, [*args, "--figures", "period"])
    assert with_figures.exit_code == 0, with_figures.output
    printed = " ".join(with_figures.stdout.split())
    assert "Monthly figures are not a year's reach" in printed
    assert "note (rows " in printed and "adds them up to 31,646" in printed


def test_rowca_with_figures_period_warns_that_months_add_up(mali: Api, hq: Api) -> None:
    params = [*ROWCA_OPTIONS, ("figures", "period")]
    report = imported(post_sheet(mali, ROWCA.read_bytes(), params=params))
    assert report["figures"] == "period" and report["created"] == 2
    warnings = {n["note"].split(" (")[0]: n for n in report["notes"] if n["kind"] == "figures"}
    assert set(warnings) == {"wash/hod/response at ML05", "wash/hod/response at ML07"}
    mopti = warnings["wash/hod/response at ML05"]
    assert "May 2014: 4,046; June 2014: 27,600" in mopti["note"]
    assert "adds them up to 31,646" in mopti["note"]
    assert "Monthly figures are not a year's reach" in mopti["note"]
    assert mopti["column"] == "Achieved" and len(mopti["rows"]) >= 2
    totals = hq.get("/api/v1/totals", params={"country": "MLI", "group_by": "admin1"}).json()
    assert {r["admin1"]: r["people_reached"] for r in totals["rows"]}["ML05"] == 31646


def rowca_cumulative() -> tuple[bytes, dict[str, int]]:
    """ROWCA's sheet with the same figures as year-to-date ones: each June row of a slot
    (country, admin1, cluster) adds the slot's May figure (the largest of its rows, as
    combine=max keeps). Returns the sheet and each admin1's last cumulative figure."""
    with ROWCA.open(encoding="utf-8-sig", newline="") as f:
        grid = list(csv.reader(f))
    header = grid[0]
    column = {name: header.index(name) for name in header}

    def slot(row: list[str]) -> tuple[str, str, str] | None:
        if "people" not in row[column["Indicator"]].lower() or not row[column["Achieved"]]:
            return None
        return row[column["Country"]], row[column["Admin1"]], row[column["Cluster"]]

    may: dict[tuple[str, str, str], int] = {}
    for row in grid[2:]:
        if (key := slot(row)) is not None and row[column["MONTH"]] == "May":
            may[key] = max(may.get(key, 0), int(row[column["Achieved"]]))
    last: dict[tuple[str, str, str], int] = dict(may)
    june: dict[tuple[str, str, str], int] = {}
    for row in grid[2:]:
        if (key := slot(row)) is not None:
            row[column["Accumulative"]] = "YES"
            if row[column["MONTH"]] == "June":
                figure = int(row[column["Achieved"]]) + may.get(key, 0)
                row[column["Achieved"]] = str(figure)
                june[key] = max(june.get(key, 0), figure)
    last.update(june)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(grid)
    wash = {
        admin1: figure
        for (country, admin1, cluster), figure in last.items()
        if country == "Mali" and cluster == "Water Sanitation & Hygiene"
    }
    return out.getvalue().encode(), wash


def test_rowca_cumulative_the_years_reach_is_the_last_months_figure(mali: Api, hq: Api) -> None:
    """Needs the cumulative branch (people_reached_cumulative) merged."""
    sheet, last = rowca_cumulative()
    assert last == {"Gao": 9600 + 1600, "Tombouctou": 53026, "Mopti": 4046 + 27600}
    params = [*ROWCA_OPTIONS, ("figures", "cumulative")]
    report = imported(post_sheet(mali, sheet, params=params))
    assert report["problems"] == [] and report["created"] == 2
    assert not any("Monthly figures" in n["note"] for n in report["notes"])
    june = next(r for r in report["results"] if r["period_start"] == "2014-06-01")
    mopti = next(line for line in june["lines"] if line["admin1"] == "ML05")
    assert mopti["people_reached_cumulative"] == 31646
    totals = hq.get("/api/v1/totals", params={"country": "MLI", "group_by": "admin1"}).json()
    assert {r["admin1"]: r["people_reached"] for r in totals["rows"]} == {
        "ML07": last["Gao"],
        "ML06": last["Tombouctou"],
        "ML05": last["Mopti"],
    }
    # The same sheet read as monthly figures would have counted Mopti's May people twice.
    assert last["Mopti"] < 4046 + (4046 + 27600)
    again = imported(post_sheet(mali, sheet, params=[*params, ("mode", "upsert")]))
    assert counts(again) == (0, 0, 2, 0)


def test_a_corrected_cumulative_sheet_is_amended_whatever_the_order_of_its_rows(
    dtm: Api, hq: Api
) -> None:
    """January's year-to-date figure raised above February's old one: January alone would
    be a 409 until February is amended too, so the import tries it again after February."""
    header = "country,period_start,period_end,sector,division,phase,admin1,people_reached,"
    header += "people_reached_cumulative\n"

    def sheet(january: int, february: int) -> str:
        return (
            header
            + f"TCD,2024-01-01,2024-01-31,cccm,hod,response,TCD07,{january},{january}\n"
            + f"TCD,2024-02-01,2024-02-29,cccm,hod,response,TCD07,300,{february}\n"
        )

    assert imported(post_sheet(dtm, sheet(800, 1100)))["created"] == 2
    params = [("mode", "upsert")]
    check = imported(post_sheet(dtm, sheet(1200, 1500), params=[*params, ("dry_run", "true")]))
    report = imported(post_sheet(dtm, sheet(1200, 1500), params=params))
    assert report["problems"] == [] and (report["amended"], report["refused"]) == (2, 0)
    assert [r["action"] for r in check["results"]] == [r["action"] for r in report["results"]]
    totals = hq.get("/api/v1/totals", params={"country": "TCD", "year": 2024}).json()["rows"]
    assert [(r["people_reached"], r["people_reached_in_periods"]) for r in totals] == [(1500, 1500)]


def test_one_period_a_year_needs_no_figures(dtm: Api) -> None:
    sheet = as_csv(
        [
            ["TCD", "2023-03", "CCCM", "TD07", "Lac", "", "", "10"],
            ["TCD", "2024-03", "CCCM", "TD07", "Lac", "", "", "20"],
        ]
    )
    report = imported(post_sheet(dtm, sheet, params=[("division", "hod"), ("phase", "response")]))
    assert report["created"] == 2 and report["figures"] is None
    assert [n["kind"] for n in report["notes"]] == ["pcode"]


def test_figures_new_fills_people_reached_new(mali: Api) -> None:
    params = [*ROWCA_OPTIONS, ("figures", "new"), ("dry_run", "true")]
    report = imported(post_sheet(mali, ROWCA.read_bytes(), params=params))
    assert report["notes"] == []
    assert all(
        line["people_reached_new"] == line["people_reached"]
        for r in report["results"]
        for line in r["lines"]
    )


# --- from the browser -------------------------------------------------------------------


def test_multipart_upload_gives_the_report_of_the_raw_body(dtm: Api) -> None:
    sheet = as_csv([r for r in dtm_rows() if r[0] == "TCD"])
    params = [*DTM_OPTIONS, ("dry_run", "true")]
    raw = imported(post_sheet(dtm, sheet, params=params))
    form = imported(
        dtm.post(IMPORTS, params=params, files={"file": ("dtm.csv", sheet.encode(), "text/csv")})
    )
    assert form == raw
    # Browsers often type a CSV as Excel's, or not at all: the file name decides.
    for part_type in ("application/vnd.ms-excel", "application/octet-stream"):
        typed = dtm.post(IMPORTS, params=params, files={"file": ("dtm.csv", sheet, part_type)})
        assert imported(typed) == raw


def test_multipart_xlsx_and_problems(dtm: Api) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(DTM_HEADER)
    sheet.append(["TCD", "2024-01", "CCCM", "TD07", "Lac", "", "", 10])
    buffer = io.BytesIO()
    workbook.save(buffer)
    params = [("division", "hod"), ("phase", "response")]
    report = imported(
        dtm.post(
            IMPORTS,
            params=params,
            files={"file": ("5w.xlsx", buffer.getvalue(), "application/octet-stream")},
        )
    )
    assert report["format"] == "xlsx" and report["created"] == 1

    no_file = dtm.post(IMPORTS, params=params, data={"note": "x"}, files={"other": ("a", b"b")})
    body = assert_problem(no_file, 422)
    assert "form field 'file'" in body["errors"][0]["msg"]
    text_field = dtm.post(
        IMPORTS, params=params, data={"file": "country\nTCD\n"}, files={"other": ("a", b"b")}
    )
    assert "is text, not a file" in assert_problem(text_field, 422)["errors"][0]["msg"]
    form = dtm.post(IMPORTS, params=params, data={"file": "country\nTCD\n"})
    assert_problem(form, 415)  # a form without files is not a multipart upload
    garbage = dtm.post(
        IMPORTS,
        params=params,
        content=b"garbage",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert "the multipart form cannot be read" in assert_problem(garbage, 422)["errors"][0]["msg"]
    assert_problem(post_sheet(dtm, b"{}", content_type="application/json"), 415)


def test_multipart_retry_with_its_key_imports_once(dtm: Api) -> None:
    sheet = as_csv([["TCD", "2024-01", "CCCM", "TD07", "Lac", "", "", "10"]])
    params = [("division", "hod"), ("phase", "response")]
    key = {"Idempotency-Key": "browser-upload-1"}
    first = dtm.post(
        IMPORTS, params=params, headers=key, files={"file": ("a.csv", sheet, "text/csv")}
    )
    again = dtm.post(
        IMPORTS, params=params, headers=key, files={"file": ("a.csv", sheet, "text/csv")}
    )
    assert first.status_code == again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(dtm.get("/api/v1/sitreps").json()["items"]) == 1
    other = sheet.replace("10", "11")
    changed = dtm.post(
        IMPORTS, params=params, headers=key, files={"file": ("a.csv", other, "text/csv")}
    )
    assert_problem(changed, 422)

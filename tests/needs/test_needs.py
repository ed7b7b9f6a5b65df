"""People in need (app/needs): loading the HDX HAPI and HNO HXL files of realdata/ through
POST /api/v1/needs and the CLI, and the coverage totals carry."""

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from tests.factories import Api, assert_problem, line, sitrep

REALDATA = Path("/work/shared/realdata")
HAPI = REALDATA / "hapi_humanitarian_needs_2024_afg_sdn_long.csv"
HNO = {
    "AFG": REALDATA / "hno_2024_afg_hxl_sex_age.csv",
    "SDN": REALDATA / "hno_2024_sdn_hxl_sex_age.csv",
}
SECTOR = {"SHL": "shelter", "WSH": "wash", "CCM": "cccm", "HEA": "health"}
INTERSECTORAL = ("Intersectoral", "ALL")

pytestmark = pytest.mark.skipif(not HAPI.exists(), reason="realdata/ is not on this machine")
Key = tuple[str, int, str | None, str | None]


def hapi_recount() -> dict[Key, int]:
    """People in need of the HAPI file, recounted: INN, admin levels 0 and 1, the
    category-less or "total" row, tracked sectors and Intersectoral."""
    counted: dict[Key, int] = {}
    with HAPI.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["population_status"] != "INN" or r["admin_level"] not in ("0", "1"):
                continue
            if r["category"] not in ("", "total"):
                continue
            if r["sector_code"] not in SECTOR and r["sector_code"] != "Intersectoral":
                continue
            key = (
                r["location_code"],
                int(r["reference_period_end"][:4]),
                SECTOR.get(r["sector_code"]),
                r["admin1_code"] or None,
            )
            assert key not in counted
            counted[key] = int(r["population"])
    return counted


def hno_recount(country: str) -> dict[Key, int]:
    """People in need of an HNO HXL sheet, recounted: rows without admin2, of everyone
    (gender a, age ALL, disabled a, population group ALL)."""
    counted: dict[Key, int] = {}
    with HNO[country].open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        tags = next(reader)
        for values in reader:
            r = dict(zip(tags, values, strict=True))
            if r["#adm2+code"] or (r["#gender+code"], r["#age+range"]) != ("a", "ALL"):
                continue
            if (r["#is_disabled"], r["#population_group+code"]) != ("a", "ALL"):
                continue
            code = r["#sector+code"]
            if (code not in SECTOR and code not in INTERSECTORAL) or not r["#inneed"]:
                continue
            key = (country, 2024, SECTOR.get(code), r["#adm1+code"] or None)
            assert key not in counted
            counted[key] = int(r["#inneed"])
    return counted


def listed(api: Api, query: str = "") -> dict[Key, int]:
    response = api.get(f"/api/v1/needs{query}")
    assert response.status_code == 200, response.text
    return {
        (n["country"], n["year"], n["sector"], n["admin1"]): n["people_in_need"]
        for n in response.json()["rows"]
    }


def post_csv(api: Api, path: Path, query: str = "") -> Any:
    return api.post(
        f"/api/v1/needs{query}", content=path.read_bytes(), headers={"Content-Type": "text/csv"}
    )


def test_the_hapi_file_loads_as_recounted(api: Callable[..., Api]) -> None:
    hq = api("hq")
    response = post_csv(hq, HAPI)
    assert response.status_code == 200, response.text
    report = response.json()
    expected = hapi_recount()
    assert report["format"] == "hapi"
    assert report["rows_loaded"] == len(expected) and report["replaced"] == 0
    assert report["rows_skipped"] == 1942 - len(expected)
    assert {(x["country"], x["year"]): x["rows"] for x in report["loaded"]} == {
        ("AFG", 2024): sum(k[0] == "AFG" for k in expected),
        ("SDN", 2024): sum(k[0] == "SDN" for k in expected),
    }
    assert listed(hq) == expected
    # Sudan 2024, national: the Intersectoral figure and each tracked sector's.
    assert listed(hq, "?country=SDN&year=2024") == {
        ("SDN", 2024, None, None): 24786370,
        ("SDN", 2024, "cccm", None): 3177463,
        ("SDN", 2024, "health", None): 14735162,
        ("SDN", 2024, "shelter", None): 8554095,
        ("SDN", 2024, "wash", None): 18982714,
    }
    assert listed(hq, "?country=AFG&sector=wash") == {
        k: v for k, v in expected.items() if k[0] == "AFG" and k[2] == "wash"
    }
    assert ("AFG", 2024, "wash", "AF01") in expected  # admin1 rows are there too


def test_the_hno_sheets_load_as_recounted(api: Callable[..., Api]) -> None:
    hq = api("hq")
    # A multipart upload: the file's name gives the country and year.
    with HNO["AFG"].open("rb") as f:
        response = hq.post("/api/v1/needs", files={"file": (HNO["AFG"].name, f, "text/csv")})
    assert response.status_code == 200, response.text
    assert response.json()["format"] == "hno-hxl"
    # The raw body has no name: the query gives them.
    response = post_csv(hq, HNO["SDN"], "?country=SDN&year=2024")
    assert response.status_code == 200, response.text
    assert listed(hq) == {**hno_recount("AFG"), **hno_recount("SDN")}
    # The same figures as HAPI's file (which has no SDN admin1 row in need either).
    assert listed(hq) == hapi_recount()

    response = post_csv(hq, HNO["SDN"])
    body = assert_problem(response, 422)
    assert "country" in body["errors"][0]["msg"]


def test_loading_again_replaces(api: Callable[..., Api]) -> None:
    hq, field = api("hq"), api("field", countries=["SDN"])
    assert field.post("/api/v1/sitreps", json=sitrep(line("wash", reached=2500))).status_code == 201
    assert post_csv(hq, HAPI).status_code == 200
    needs, totals = listed(hq), hq.get("/api/v1/totals?group_by=sector").json()

    again = post_csv(hq, HAPI).json()
    assert again["replaced"] == again["rows_loaded"] == len(needs)
    assert all(x["rows"] == x["replaced"] for x in again["loaded"])
    assert listed(hq) == needs
    assert hq.get("/api/v1/totals?group_by=sector").json() == totals
    # The other format of the same figures replaces them too.
    assert post_csv(hq, HNO["SDN"], "?country=SDN&year=2024").json()["replaced"] == 5
    assert listed(hq) == needs
    events = api("admin").get("/api/v1/audit?entity_type=needs").json()["items"]
    assert [(e["action"], e["after"]["replaced"]) for e in events] == [
        ("needs.load", 5),
        ("needs.load", len(needs)),
        ("needs.load", 0),
    ]


def test_only_headquarters_load(api: Callable[..., Api]) -> None:
    field = api("field", countries=["SDN"])
    assert_problem(post_csv(field, HAPI), 403)
    assert post_csv(api("admin"), HAPI).status_code == 200
    # A field officer reads their own countries' needs only.
    assert {k[0] for k in listed(field)} == {"SDN"}
    assert_problem(field.get("/api/v1/needs?country=AFG"), 403)


def test_bad_files_are_refused_whole(api: Callable[..., Api]) -> None:
    hq = api("hq")
    response = hq.post("/api/v1/needs", content=b"x", headers={"Content-Type": "application/json"})
    assert_problem(response, 415)

    header = HAPI.read_text(encoding="utf-8").splitlines()[0]
    good = "AFG,Y,Y,,,,,,,0,Intersectoral,Intersectoral,,INN,23666389,2024-01-05,2024-12-24,1,2,,"
    bad = [
        "SDN,Y,Y,,,,,,,0,WSH,WASH,,INN,many,2024-01-05,2024-12-24,1,2,,",
        "XXX,Y,Y,,,,,,,0,HEA,Health,,INN,100,2024-01-05,2024-12-24,1,2,,",
        good,
    ]
    text = "\n".join([header, good, *bad]) + "\n"
    response = hq.post("/api/v1/needs", content=text, headers={"Content-Type": "text/csv"})
    body = assert_problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == [
        ["body", "row", 3],
        ["body", "row", 4],
        ["body", "row", 5],
    ]
    assert "'many'" in body["errors"][0]["msg"] and "XXX" in body["errors"][1]["msg"]
    assert "row 2" in body["errors"][2]["msg"]  # the same key again
    assert listed(hq) == {}

    response = hq.post("/api/v1/needs", content="a,b\n1,2\n", headers={"Content-Type": "text/csv"})
    body = assert_problem(response, 422)
    assert "population_status" in body["errors"][0]["msg"]
    # The list's filters are checked as totals check them.
    assert_problem(hq.get("/api/v1/needs?sector=food"), 422)
    assert_problem(hq.get("/api/v1/needs?year=24"), 422)


def test_totals_carry_people_in_need_and_coverage(api: Callable[..., Api]) -> None:
    hq, field = api("hq"), api("field", countries=["SDN"])
    lines = [line("wash", reached=2500), line("shelter", reached=300), line("cash", reached=500)]
    assert field.post("/api/v1/sitreps", json=sitrep(*lines)).status_code == 201
    before = hq.get("/api/v1/totals?country=SDN").json()["rows"]
    assert [(r["people_in_need"], r["coverage"]) for r in before] == [(None, None)]
    assert post_csv(hq, HAPI).status_code == 200

    [row] = hq.get("/api/v1/totals?country=SDN&year=2024").json()["rows"]
    assert row["people_in_need"] == 24786370
    assert row["coverage"] == round(row["people_reached_unique"] / 24786370, 4)

    by_sector = hq.get("/api/v1/totals?country=SDN&group_by=sector").json()["rows"]
    need = {"wash": 18982714, "shelter": 8554095}
    for r in by_sector:
        if r["sector"] in need:
            assert r["people_in_need"] == need[r["sector"]]
            assert r["coverage"] == round(r["people_reached"] / need[r["sector"]], 4)
        else:  # cash has no HNO sector
            assert (r["people_in_need"], r["coverage"]) == (None, None)
    [wash] = hq.get("/api/v1/totals?country=SDN&sector=wash").json()["rows"]
    assert wash["people_in_need"] == 18982714

    # Sudan's file has no admin1 figure in need; divisions match no need.
    for group in ("admin1", "division", "sector,phase"):
        rows = hq.get(f"/api/v1/totals?country=SDN&group_by={group}").json()["rows"]
        assert rows and all(r["people_in_need"] is None and r["coverage"] is None for r in rows)


def test_exports_of_totals_carry_the_same_needs_and_coverage(api: Callable[..., Api]) -> None:
    hq, field = api("hq"), api("field", countries=["SDN"])
    lines = [line("wash", reached=2500), line("cash", reached=500)]
    assert field.post("/api/v1/sitreps", json=sitrep(*lines)).status_code == 201
    assert post_csv(hq, HAPI).status_code == 200
    for query in ("country=SDN&group_by=sector", "country=SDN", "group_by=division"):
        rows = hq.get(f"/api/v1/totals?{query}").json()["rows"]
        exported = hq.get(f"/api/v1/exports/totals.json?{query}").json()["rows"]
        assert exported == rows
        csv_rows = list(
            csv.DictReader(
                io.StringIO(hq.get(f"/api/v1/exports/totals.csv?{query}&hxl=false").text)
            )
        )
        assert [(r["people_in_need"], r["coverage"]) for r in csv_rows] == [
            (str(r["people_in_need"] or ""), str(r["coverage"] or "")) for r in rows
        ]
    [sdn] = hq.get("/api/v1/exports/totals.json?country=SDN").json()["rows"]
    assert sdn["people_in_need"] == 24786370


def test_coverage_of_an_admin1_area(api: Callable[..., Api]) -> None:
    hq, field = api("hq"), api("field", countries=["AFG"])
    body = sitrep(line("wash", admin1="AF01", reached=1000), country="AFG")
    assert field.post("/api/v1/sitreps", json=body).status_code == 201, body
    assert post_csv(hq, HAPI).status_code == 200
    need = hapi_recount()
    rows = hq.get("/api/v1/totals?country=AFG&group_by=sector,admin1").json()["rows"]
    assert [(r["admin1"], r["people_in_need"], r["coverage"]) for r in rows] == [
        (
            "AF01",
            need[("AFG", 2024, "wash", "AF01")],
            round(1000 / need[("AFG", 2024, "wash", "AF01")], 4),
        )
    ]


def test_the_cli_loads_and_refuses(migrated: str, api: Callable[..., Api], tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["users", "create", "hq-needs", "--role", "hq"]).exit_code == 0
    result = runner.invoke(cli, ["needs", "import", str(HNO["SDN"]), "--user", "hq-needs"])
    assert result.exit_code == 0, result.output
    assert "SDN 2024: 5 rows loaded, 0 replaced" in result.stdout
    assert listed(api("hq")) == hno_recount("SDN")

    bad = tmp_path / "needs.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    result = runner.invoke(cli, ["needs", "import", str(bad), "--user", "hq-needs"])
    assert result.exit_code == 1
    assert "error:" in result.stderr and "HDX HAPI" in result.stderr
    assert "Traceback" not in result.output
    assert listed(api("hq")) == hno_recount("SDN")

"""What one import takes on (issue 13, item 5): at most TRACKER_IMPORT_MAX_ROWS rows of data
and TRACKER_IMPORT_CPU_SECONDS of processor time to read and check them, or a 413 that
says to split the file, with nothing written; and a report of bounded size however many
rows are bad (the first 1,000 problems, and the count of all)."""

from __future__ import annotations

import calendar
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from app.cli import app as cli
from app.imports import sheets
from app.imports.sheets import Upload
from tests.factories import Api, assert_problem, make_user
from tests.imports.sheets import XLSX, imported, post_sheet

HEADER = "country,period_start,period_end,sector,division,phase,admin1,people_reached\n"
ADMIN1 = ("SD01", "SD02", "SD03", "SD04", "SD05")


def _rows(n: int, reached: str = "10") -> str:
    """``n`` rows of Sudan, each a slot of its own (month, admin1, sector)."""
    sectors = ("shelter", "wash", "cccm", "cash", "health")
    rows = []
    for i in range(n):
        month = 1 + i // 25 % 12
        year = 2014 + i // 300
        day = calendar.monthrange(year, month)[1]
        admin1, sector = ADMIN1[i % 5], sectors[i // 5 % 5]
        rows.append(
            f"SDN,{year}-{month:02d}-01,{year}-{month:02d}-{day},{sector},hod,response,"
            f"{admin1},{reached}\n"
        )
    return HEADER + "".join(rows)


def _xlsx(n: int) -> bytes:
    """A workbook of ``n`` rows written without cell references: packed, a few kilobytes;
    unpacked, a hundred times more (as the zip-bomb-like sheet of the issue)."""
    cells = "".join(
        f'<c t="inlineStr"><is><t>{v}</t></is></c>'
        for v in ("SDN", "2024-01-01", "2024-01-31", "shelter", "hod", "response", "SD01", "5")
    )
    header = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in HEADER.strip().split(","))
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.'
        f'org/spreadsheetml/2006/main"><sheetData><row>{header}</row>'
        + f"<row>{cells}</row>" * n
        + "</sheetData></worksheet>"
    )
    main = "http://schemas.openxmlformats.org"
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{main}/package/2006/content-types"><Default '
        f'Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+'
        'xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml'
        '.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="applicati'
        'on/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{main}/package/2006/relationships"><Relationship '
        f'Id="rId1" Type="{main}/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{main}/spreadsheetml/2006/main" xmlns:r="{main}/'
        'officeDocument/2006/relationships"><sheets><sheet name="5W" sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{main}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{main}/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return packed.getvalue()


def _nothing_stored(field: Api) -> None:
    assert field.get("/api/v1/sitreps").json()["items"] == []


def test_a_sheet_over_the_row_limit_is_413_and_writes_nothing(
    field: Api, settings_env: Callable[..., None]
) -> None:
    settings_env(import_max_rows="40")
    problem = assert_problem(post_sheet(field, _rows(41), params=[("figures", "new")]), 413)
    assert problem["type"] == "urn:crisis-tracker:problem:body-too-large"
    assert problem["detail"] == (
        "the sheet has more than 40 rows of data; split it into files of at most 40 rows"
    )
    _nothing_stored(field)
    # At the limit it goes in, blank rows between the data not counted.
    sheet = _rows(40).replace("\nSDN", "\n,,,\n\n\nSDN")
    report = imported(post_sheet(field, sheet, params=[("figures", "new")]))
    assert (report["rows"], report["lines"], report["created"]) == (40, 40, 2)
    assert len(field.get("/api/v1/sitreps").json()["items"]) == 2


def test_a_workbook_that_unpacks_to_many_rows_is_refused_at_the_limit(
    field: Api, settings_env: Callable[..., None]
) -> None:
    settings_env(import_max_rows="1000")
    workbook = _xlsx(5000)
    assert len(workbook) < 20_000  # packed; about 1 MB unpacked
    problem = assert_problem(post_sheet(field, workbook, content_type=XLSX), 413)
    assert "more than 1,000 rows of data" in problem["detail"]
    _nothing_stored(field)


def test_an_import_over_its_processor_time_is_413(
    field: Api, settings_env: Callable[..., None]
) -> None:
    settings_env(import_cpu_seconds="0.001")
    problem = assert_problem(post_sheet(field, _rows(3000)), 413)
    assert problem["detail"] == (
        "the sheet takes more than 0.001 seconds of processor time to read and check; split "
        "it into smaller files"
    )
    _nothing_stored(field)


def _bad_rows(n: int) -> str:
    """``n`` rows of one sitrep whose people_reached is not a number."""
    return HEADER + "SDN,2024-01-01,2024-01-31,shelter,hod,response,SD01,lots\n" * n


def test_many_bad_rows_make_a_report_of_bounded_size(field: Api, hq: Api) -> None:
    """1,500 bad rows of one sitrep: all counted, the first 1,000 listed, in the report's
    problems and in the sitrep's problem (whose detail counts them all); the audit trail
    counts them all too."""
    response = post_sheet(field, _bad_rows(1500))
    report = imported(response)
    assert report["problems_total"] == 1500
    assert [p["row"] for p in report["problems"]] == list(range(2, 1002))
    assert report["problems"][0]["reason"] == "'lots' is not a whole number of 0 or more"
    (refused,) = report["results"]
    assert refused["outcome"] == "refused" and len(refused["rows"]) == 1500
    assert len(refused["problem"]["errors"]) == 1000
    assert refused["problem"]["detail"].endswith("(and 1499 more)")
    assert len(response.content) < 400_000
    _nothing_stored(field)
    (event,) = hq.get("/api/v1/audit", params={"action": "import.run"}).json()["items"]
    assert event["after"]["problems"] == 1500


def test_a_wide_data_row_does_not_widen_the_header() -> None:
    """Rows are kept without their trailing empty cells, and only the rows that may hold
    the header are padded to one width (for libhxl): a data row of 5,000 commas below them
    adds no column (padding every header row to it made one column per comma, and a
    2 MB row of commas cost minutes in libhxl)."""
    sheet = HEADER + "SDN,2024-01-01,2024-01-31,shelter,hod,response,SD01,5\n" * 30
    sheet += "," * 5000 + "x\n"
    read = sheets.read(Upload(data=sheet.encode(), content_type="text/csv"), sheets.Limits(100, 60))
    assert [column.header for column in read.columns] == HEADER.strip().split(",")
    assert len(read.rows) == 31 and read.rows[-1].number == 32


def test_the_command_says_how_many_problems_it_does_not_list(tmp_path: Path) -> None:
    make_user("field", countries=["SDN"], name="limits-officer")
    sheet = tmp_path / "bad.csv"
    sheet.write_text(_bad_rows(1200))
    result = CliRunner().invoke(
        cli, ["import", str(sheet), "--user", "limits-officer", "--dry-run"]
    )
    assert "1200 problems" in result.stdout, result.output
    assert "and 200 more problems (the first 1,000 are listed)" in result.stdout

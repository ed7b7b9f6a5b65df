"""Exports of totals and sitrep lines (issue 5, part 3): CSV with an HXL hashtag row read
back by libhxl, XLSX, JSON; filters and permissions as the API's; errors before the
response starts; and constant memory however many lines there are."""

from __future__ import annotations

import csv
import gc
import io
import json
import tracemalloc
from datetime import UTC, date, datetime
from typing import Any

import hxl
import openpyxl
import pytest
from sqlalchemy import create_engine, event, insert

from app.auth import service as auth
from app.config import get_settings
from app.db import get_engine, new_session
from app.exports import formats
from app.exports import service as exports
from app.exports.formats import Format
from app.sitreps.models import SitrepLine
from tests.counting import FIGURES
from tests.factories import (
    DOMAIN_HXL_TAGS,
    Api,
    assert_problem,
    full_line,
    line,
    make_user,
    register_crisis,
    sitrep,
    submit,
)

LINES = "/api/v1/exports/lines"
TOTALS = "/api/v1/exports/totals"


def download(user: Api, url: str, **params: Any) -> Any:
    response = user.get(url, params=params)
    assert response.status_code == 200, response.text
    return response


def tags_of(dataset: Any) -> list[str]:
    return [column.get_display_tag(sort_attributes=False) for column in dataset.columns]


@pytest.fixture
def data(api) -> dict[str, Any]:
    """Two countries, three sectors, an amended sitrep and a withdrawn one."""
    field = api("field", countries=["SDN", "TCD"])
    crisis_id = register_crisis(api("hq"), ["SDN"], name="Sudan")
    submit(
        field,
        sitrep(
            full_line(),
            line("wash", admin1="SD01", reached=300, indicators={"latrines": 2}),
            crisis_id=crisis_id,
        ),
    )
    amended = {
        **sitrep(line("cash", admin1="SD02", reached=50), start="2023-11-01", end="2023-11-30")
    }
    second = submit(field, amended)
    amended["lines"][0]["people_reached"] = 70
    response = field.put(
        f"/api/v1/sitreps/{second['id']}", json=amended, headers={"If-Match": second["etag"]}
    )
    assert response.status_code == 200, response.text
    gone = submit(
        field,
        sitrep(line("health", admin1="SD03", reached=999), start="2024-05-01", end="2024-05-31"),
    )
    response = field.delete(
        f"/api/v1/sitreps/{gone['id']}",
        json={"reason": "twice"},
        headers={"If-Match": gone["etag"]},
    )
    assert response.status_code == 200, response.text
    submit(
        field,
        sitrep(
            line("shelter", admin1="TCD14", reached=7, indicators={"shelter_kits": 3}),
            country="TCD",
        ),
    )
    return {"field": field, "crisis_id": crisis_id}


# --- CSV and HXL -------------------------------------------------------------------------


def test_lines_csv_reads_back_with_libhxl_every_tag_intact(api, data) -> None:
    hq = api("hq")
    response = download(hq, f"{LINES}.csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="crisis-tracker-lines-')
    assert disposition.endswith('.csv"')

    rows = list(csv.reader(io.StringIO(response.text)))
    header, tag_row = rows[0], rows[1]
    dataset = hxl.data(io.BytesIO(response.content)).cache()
    assert tags_of(dataset) == tag_row
    for tag in DOMAIN_HXL_TAGS:
        assert tag in tag_row, tag
    assert "#indicator+households_assisted" in tag_row and "#indicator+cash_usd" in tag_row
    assert dataset.headers == header

    feed = hq.get("/api/v1/clusters/shelter/feed").json()["items"]
    shelter = [row for row in dataset if row.get("#sector+code") == "shelter"]
    assert [int(r.get("#meta+id")) for r in shelter] == [i["line_id"] for i in feed]
    first = shelter[0]
    assert first.get("#country+code") == "SDN"
    assert first.get("#adm2+code") == "SD01002"
    assert first.get("#crisis+id") == str(data["crisis_id"])
    assert first.get("#date+start") == "2024-03-01"
    assert first.get("#reached") == "100" and first.get("#reached+new") == "60"
    assert first.get("#reached+f+adults") == "40" and first.get("#reached+m+children") == "10"
    assert first.get("#targeted") == "120"
    assert first.get("#indicator+households_assisted") == "25"
    assert first.get("#date+updated").endswith("Z") or "+00:00" in first.get("#date+updated")


def test_lines_are_live_and_latest(api, data) -> None:
    rows = list(hxl.data(io.BytesIO(download(api("admin"), f"{LINES}.csv").content)))
    by_sector = {row.get("#sector+code"): row for row in rows}
    # The withdrawn health sitrep is gone; the amended cash line has its new figures.
    assert sorted(by_sector) == ["cash", "shelter", "wash"]
    assert len(rows) == 4
    assert by_sector["cash"].get("#reached") == "70"
    assert by_sector["cash"].get("#meta+revision") == "2"
    assert {row.get("#status") for row in rows} == {"submitted"}


def test_totals_csv_reads_back_with_libhxl(api, data) -> None:
    hq = api("hq")
    response = download(hq, f"{TOTALS}.csv", group_by="sector,crisis,admin1")
    dataset = hxl.data(io.BytesIO(response.content)).cache()
    assert tags_of(dataset) == [
        "#country+code",
        "#date+year",
        "#sector+code",
        "#crisis+id",
        "#adm1+code",
        "#reached",
        "#reached+unique",
        "#reached+in_periods",
        "#targeted",
        "#targeted+unique",
        "#reached+f+adults",
        "#reached+m+adults",
        "#reached+f+children",
        "#reached+m+children",
        "#reached+unknown",
        "#meta+lines",
        "#inneed",
        "#indicator+coverage",
    ]
    assert dataset.headers == ["country", "year", "sector", "crisis_id", "admin1", *FIGURES]
    api_rows = hq.get("/api/v1/totals", params={"group_by": "sector,crisis,admin1"}).json()["rows"]
    exported = [
        {
            h: (int(v) if v and v.isdigit() else v or None)
            for h, v in zip(dataset.headers, row.values, strict=True)
        }
        for row in dataset
    ]
    assert exported == api_rows


@pytest.mark.parametrize("format", ["csv", "xlsx"])
@pytest.mark.parametrize("what", ["lines", "totals"])
def test_pandas_reads_exports_without_hashtags_numbers_as_numbers(
    api, data, format: str, what: str
) -> None:
    """As README shows: pandas.read_csv(url) / read_excel(url) on hxl=false, and
    skiprows=[1] on the HXL form."""
    pandas = pytest.importorskip("pandas")
    hq = api("hq")
    read = pandas.read_csv if format == "csv" else pandas.read_excel
    url = f"/api/v1/exports/{what}.{format}"
    plain = read(io.BytesIO(download(hq, url, hxl="false").content))
    tagged = read(io.BytesIO(download(hq, url).content), skiprows=[1])
    for frame in (plain, tagged):
        assert pandas.api.types.is_integer_dtype(frame["people_reached"])
        assert frame["country"].tolist()[0] in ("SDN", "TCD")
    assert plain.equals(tagged)
    if what == "lines":
        assert sorted(plain["people_reached"].tolist()) == [7, 70, 100, 300]
        assert pandas.api.types.is_integer_dtype(plain["sitrep_id"])
    else:
        assert plain["people_reached"].sum() == 60 + 300 + 70 + 7  # new people
        assert pandas.api.types.is_integer_dtype(plain["year"])
    # With its hashtag row read as data, every column is text: why hxl=false exists.
    as_data = read(io.BytesIO(download(hq, url).content))
    assert not pandas.api.types.is_integer_dtype(as_data["people_reached"])


def test_csv_without_hashtags_is_the_header_then_the_records(api, data) -> None:
    hq = api("hq")
    rows = list(csv.reader(io.StringIO(download(hq, f"{LINES}.csv", hxl="false").text)))
    assert rows[0][:3] == ["line_id", "sitrep_id", "revision"]
    assert not any(cell.startswith("#") for row in rows for cell in row)
    assert len(rows) == 1 + 4
    book = openpyxl.load_workbook(io.BytesIO(download(hq, f"{LINES}.xlsx", hxl="false").content))
    sheet = book.active
    assert sheet is not None and sheet.freeze_panes == "A2"
    assert [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))][13] in (7, 70, 100, 300)
    assert_problem(hq.get(f"{LINES}.csv", params={"hxl": "maybe"}), 422)


def test_csv_of_nothing_has_its_two_header_rows(api) -> None:
    response = download(api("hq"), f"{TOTALS}.csv", country="NOR")
    assert response.text.splitlines() == [
        "country,year,people_reached,people_reached_unique,people_reached_in_periods,people_targeted,people_targeted_unique,women,men,girls,boys,people_reached_not_disaggregated,lines,people_in_need,coverage",
        "#country+code,#date+year,#reached,#reached+unique,#reached+in_periods,#targeted,#targeted+unique,#reached+f+adults,#reached+m+adults,#reached+f+children,#reached+m+children,#reached+unknown,#meta+lines,#inneed,#indicator+coverage",
    ]


# --- JSON ----------------------------------------------------------------------------------


def test_json_exports_are_what_the_api_returns(api, data) -> None:
    hq = api("hq")
    for params in ({}, {"group_by": "sector,division,phase"}, {"country": "SDN", "year": "2024"}):
        response = download(hq, f"{TOTALS}.json", **params)
        assert response.headers["content-type"] == "application/json"
        api_rows = hq.get("/api/v1/totals", params=params).json()["rows"]
        assert response.json() == {"rows": api_rows}
    items = download(hq, f"{LINES}.json").json()["items"]
    feed = hq.get("/api/v1/clusters/shelter/feed").json()["items"]
    assert [i for i in items if i["sector"] == "shelter"] == feed
    assert [i["line_id"] for i in items] == sorted(i["line_id"] for i in items)


# --- XLSX ----------------------------------------------------------------------------------


def test_lines_xlsx_has_header_widths_and_typed_cells(api, data) -> None:
    response = download(api("hq"), f"{LINES}.xlsx", sector="shelter")
    assert response.headers["content-type"] == formats.MEDIA_TYPES[Format.xlsx]
    assert response.headers["content-disposition"].endswith('.xlsx"')
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["lines"]
    sheet = workbook["lines"]
    rows = list(sheet.iter_rows(values_only=True))
    header, tag_row = rows[0], rows[1]
    assert sheet["A1"].font.bold
    assert sheet.freeze_panes == "A3"
    for index, name in enumerate(header, start=1):
        width = sheet.column_dimensions[openpyxl.utils.get_column_letter(index)].width
        assert width >= max(len(name), len(tag_row[index - 1])), name
    # Only the indicators of the exported sector.
    assert header[-2:] == ("households_assisted", "shelter_kits")
    assert len(rows) == 4
    first = dict(zip(header, rows[2], strict=True))
    assert first["period_start"] == datetime(2024, 3, 1)
    assert first["people_reached"] == 100 and first["women"] == 40
    assert isinstance(first["updated_at"], datetime)

    dataset = hxl.data(io.BytesIO(response.content)).cache()
    assert tags_of(dataset) == list(tag_row)
    assert [row.get("#country+code") for row in dataset] == ["SDN", "TCD"]


def test_xlsx_goes_on_over_further_sheets_past_the_row_limit(
    api, data, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "XLSX_MAX_ROWS", 4)  # two header rows and two lines a sheet
    workbook = openpyxl.load_workbook(io.BytesIO(download(api("hq"), f"{LINES}.xlsx").content))
    assert workbook.sheetnames == ["lines", "lines (2)"]
    counts = [workbook[name].max_row for name in workbook.sheetnames]
    assert counts == [4, 4]
    assert [c.value for c in workbook["lines (2)"][2]] == [c.value for c in workbook["lines"][2]]


def test_totals_xlsx(api, data) -> None:
    response = download(api("hq"), f"{TOTALS}.xlsx", group_by="sector")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["totals"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:3] == ("#country+code", "#date+year", "#sector+code")
    assert ("SDN", 2024, "shelter", 60, 60, 100, 120, 120, 24, 18, 12, 6, 0, 1, None, None) in rows


# --- filters and permissions ---------------------------------------------------------------


def line_ids(user: Api, **params: Any) -> list[int]:
    return [i["line_id"] for i in download(user, f"{LINES}.json", **params).json()["items"]]


def test_line_filters(api, data) -> None:
    hq = api("hq")
    every = download(hq, f"{LINES}.json").json()["items"]

    def expect(predicate: Any) -> list[int]:
        return [i["line_id"] for i in every if predicate(i)]

    assert line_ids(hq, country="TCD") == expect(lambda i: i["country"] == "TCD")
    assert line_ids(hq, year="2023") == expect(lambda i: i["sector"] == "cash")
    assert line_ids(hq, sector="wash,cash") == expect(lambda i: i["sector"] in ("wash", "cash"))
    assert line_ids(hq, crisis_id=data["crisis_id"]) == expect(lambda i: i["crisis_id"])
    assert line_ids(hq, division="pcca") == []
    assert line_ids(hq, phase="response", division="hod") == expect(lambda i: True)
    assert line_ids(hq, period_from="2024-01-01") == expect(lambda i: i["period_end"] >= "2024")
    assert line_ids(hq, period_to="2023-12-31") == expect(lambda i: i["sector"] == "cash")
    assert line_ids(hq, period_from="2023-11-15", period_to="2023-11-20") == expect(
        lambda i: i["sector"] == "cash"
    )


@pytest.mark.parametrize(
    ("url", "params", "status"),
    [
        (f"{TOTALS}.csv", {"year": "soon"}, 422),
        (f"{TOTALS}.csv", {"group_by": "planet"}, 422),
        (f"{TOTALS}.xlsx", {"sector": "food"}, 422),
        (f"{TOTALS}.pdf", {}, 422),
        (f"{LINES}.csv", {"country": "XXX"}, 422),
        (f"{LINES}.json", {"period_from": "2024-02-01", "period_to": "2024-01-01"}, 422),
        (f"{LINES}.xlsx", {"period_from": "last week"}, 422),
        (f"{LINES}.csv", {"crisis_id": "0"}, 422),
        (f"{LINES}.csv", {"phase": "aftermath"}, 422),
    ],
)
def test_bad_filters_are_problems_not_files(
    api, url: str, params: dict[str, str], status: int
) -> None:
    response = api("hq").get(url, params=params)
    assert_problem(response, status)
    assert "content-disposition" not in response.headers


def test_field_officers_export_their_own_countries(api, data) -> None:
    sudan = api("field", countries=["SDN"])
    assert {i["country"] for i in download(sudan, f"{LINES}.json").json()["items"]} == {"SDN"}
    assert {r["country"] for r in download(sudan, f"{TOTALS}.json").json()["rows"]} == {"SDN"}
    for url in (f"{LINES}.csv", f"{TOTALS}.csv"):
        body = assert_problem(sudan.get(url, params={"country": "TCD"}), 403)
        assert "TCD" in body["detail"]


def test_coordinators_export_the_lines_of_their_clusters(api, data) -> None:
    shelter = api("coordinator", clusters=["shelter", "cwg"])
    items = download(shelter, f"{LINES}.json").json()["items"]
    assert sorted({i["sector"] for i in items}) == ["cash", "shelter"]
    header = download(shelter, f"{LINES}.csv").text.splitlines()[0].split(",")
    assert "households_assisted" in header and "cash_usd" in header and "latrines" not in header
    assert_problem(shelter.get(f"{LINES}.csv", params={"sector": "wash"}), 403)
    in_chad = api("coordinator", clusters=["shelter"], countries=["TCD"])
    assert [i["country"] for i in download(in_chad, f"{LINES}.json").json()["items"]] == ["TCD"]
    assert_problem(in_chad.get(f"{LINES}.json", params={"country": "SDN"}), 403)
    # Totals are not a coordinator's, as GET /totals.
    assert_problem(shelter.get(f"{TOTALS}.csv"), 403)


def test_a_database_that_does_not_answer_is_a_503_before_the_file_starts(
    api, monkeypatch: pytest.MonkeyPatch
) -> None:
    hq = api("hq")
    dead = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/nothing", connect_args={"connect_timeout": 1}
    )
    monkeypatch.setattr(exports, "get_engine", lambda: dead)
    response = hq.get(f"{LINES}.csv")
    body = assert_problem(response, 503)
    assert "127.0.0.1" not in str(body) and "content-disposition" not in response.headers


# --- constant memory -------------------------------------------------------------------------


def add_lines(sitrep_id: int, start: int, stop: int) -> None:
    """Lines straight into the table (the API would take far longer to make thousands)."""
    now = datetime.now(UTC)
    rows = [
        {
            "sitrep_id": sitrep_id,
            "line_key": f"bulk|{n}",
            "status": "submitted",
            "revision": 1,
            "country": "SDN",
            "crisis_id": None,
            "period_start": date(2024, 3, 1),
            "period_end": date(2024, 3, 31),
            "year": 2024,
            "sector": "shelter",
            "division": "hod",
            "phase": "response",
            "admin1": "SD01",
            "admin2": None,
            "people_reached": n,
            "people_reached_new": n,
            "people_targeted": None,
            "women": None,
            "men": None,
            "girls": None,
            "boys": None,
            "persons_with_disabilities": None,
            "indicators": {"households_assisted": n},
            "feed_seq": 1_000_000 + n,
            "updated_at": now,
        }
        for n in range(start, stop)
    ]
    with get_engine().begin() as connection:
        connection.execute(insert(SitrepLine), rows)


def peak_memory(format: Format, user: Any) -> int:
    """The most memory the export allocates while the whole file streams by."""
    gc.collect()
    tracemalloc.start()
    try:
        table = exports.lines_table(query=exports.LinesQuery(), user=user)
        size = sum(len(chunk) for chunk in formats.render(format, table))
        assert size > 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("format", list(Format))
def test_exports_stream_in_constant_memory(
    api, format: Format, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_EXPORT_BATCH_ROWS", "100")
    get_settings.cache_clear()
    try:
        sitrep_id = submit(api("field", countries=["SDN"]), sitrep(line(admin1="SD02")))["id"]
        with new_session() as session:
            user = auth.authenticate(session, token=make_user("hq"))
        peak_memory(format, user)  # warm caches: compiled statements, imports
        add_lines(sitrep_id, 0, 500)
        small = peak_memory(format, user)
        add_lines(sitrep_id, 500, 5000)
        large = peak_memory(format, user)
    finally:
        get_settings.cache_clear()
    # Ten times the lines. Holding the 4,500 more would cost several megabytes (a line is
    # over a kilobyte as a row, an item and its text); streaming them costs next to nothing
    # more (a few hundred kilobytes either way, mostly a 64 KiB chunk and its copies).
    assert large - small < 1024 * 1024, (small, large)


def test_rows_come_from_the_database_in_bounded_batches(
    api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the export reads a server-side cursor, at most export_batch_rows rows a
    round trip. (SQLite has no round trips: it steps through rows one at a time, in process;
    the memory test above covers it.)"""
    if get_engine().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    import psycopg

    monkeypatch.setenv("TRACKER_EXPORT_BATCH_ROWS", "100")
    get_settings.cache_clear()
    fetched: list[int] = []
    cursors: list[str] = []
    fetchmany = psycopg.ServerCursor.fetchmany

    def counting_fetchmany(self: Any, size: int = 0) -> Any:
        rows = fetchmany(self, size)
        fetched.append(len(rows))
        return rows

    def record_cursor(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM sitrep_lines" in statement:
            cursors.append(type(cursor).__name__)

    sitrep_id = submit(api("field", countries=["SDN"]), sitrep(line(admin1="SD02")))["id"]
    add_lines(sitrep_id, 0, 1000)
    with new_session() as session:
        user = auth.authenticate(session, token=make_user("hq"))
    monkeypatch.setattr(psycopg.ServerCursor, "fetchmany", counting_fetchmany)
    event.listen(get_engine(), "before_cursor_execute", record_cursor)
    try:
        table = exports.lines_table(query=exports.LinesQuery(), user=user)
        rows = list(csv.reader(io.StringIO(b"".join(formats.render(Format.csv, table)).decode())))
    finally:
        event.remove(get_engine(), "before_cursor_execute", record_cursor)
        get_settings.cache_clear()
    assert len(rows) == 2 + 1001
    assert cursors == ["ServerCursor"]
    assert sum(fetched) == 1001 and max(fetched) <= 100 and len(fetched) >= 11


def test_json_export_is_valid_json_however_it_is_chunked(api, data, monkeypatch) -> None:
    monkeypatch.setattr(formats, "CHUNK_BYTES", 10)
    with new_session() as session:
        user = auth.authenticate(session, token=make_user("hq"))
    chunks = list(
        formats.render(Format.json, exports.lines_table(query=exports.LinesQuery(), user=user))
    )
    assert len(chunks) > 3
    assert len(json.loads(b"".join(chunks))["items"]) == 4

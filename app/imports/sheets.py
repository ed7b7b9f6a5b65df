"""5W sheets as a table of text cells: CSV (any common encoding and delimiter) or XLSX
(the active worksheet), with an HXL hashtag row or without one.

Rows are numbered as a spreadsheet shows them: the first row of the file is row 1.
"""

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import PurePath
from time import thread_time
from typing import Any

import hxl
import hxl.input
import openpyxl

from app.config import get_settings
from app.errors import AppError, ContentTooLarge, UnsupportedMediaType, ValidationFailed
from app.imports.schemas import FileFormat

CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES: dict[str, FileFormat] = {CSV_MEDIA_TYPE: "csv", XLSX_MEDIA_TYPE: "xlsx"}
# An XLSX is a zip archive: refuse one that would unpack to more than this (a zip bomb).
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024
# Rows above the data that may hold its header: libhxl looks for the hashtag row in the
# first 25.
HEADER_ROWS = 25
# How often (in rows) an import looks at the processor time it has spent.
CHECK_EVERY = 1000


@dataclass(slots=True)
class Limits:
    """What one import takes on: at most ``max_rows`` rows of data, and ``cpu_seconds`` of
    its thread's processor time to read and check them (a file of half a megabyte can
    unpack to a hundred). Past either, a 413 that says to split the file. The writes that
    follow are bounded by the rows."""

    max_rows: int
    cpu_seconds: float
    started: float = field(default_factory=thread_time)

    @classmethod
    def configured(cls) -> "Limits":
        """The limits the settings give, counting from now."""
        settings = get_settings()
        return cls(settings.import_max_rows, settings.import_cpu_seconds)

    def check_time(self) -> None:
        if thread_time() - self.started > self.cpu_seconds:
            raise ContentTooLarge(
                f"the sheet takes more than {self.cpu_seconds:g} seconds of processor time to "
                "read and check; split it into smaller files"
            )

    def check_rows(self, rows: int) -> None:
        if rows > self.max_rows:
            raise ContentTooLarge(
                f"the sheet has more than {self.max_rows:,} rows of data; split it into files "
                f"of at most {self.max_rows:,} rows"
            )


@dataclass(frozen=True, slots=True)
class Upload:
    """A file as it arrived: over HTTP with its Content-Type, or from disk with its name."""

    data: bytes
    content_type: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SheetColumn:
    index: int
    header: str
    tag: str | None  # the HXL hashtag with its attributes, e.g. "#adm1+code"

    @property
    def label(self) -> str:
        return self.header or self.tag or f"column {self.index + 1}"


@dataclass(frozen=True, slots=True)
class SheetRow:
    number: int
    values: list[str]

    def cell(self, column: SheetColumn) -> str:
        return self.values[column.index].strip() if column.index < len(self.values) else ""


@dataclass(frozen=True, slots=True)
class Sheet:
    format: FileFormat
    hxl: bool
    columns: list[SheetColumn]
    rows: list[SheetRow]


def unreadable(reason: str) -> ValidationFailed:
    return ValidationFailed([(("body",), reason)])


def format_of(upload: Upload) -> FileFormat:
    """The format a Content-Type names, or, for a file from disk, its name or content
    says."""
    if upload.content_type is not None:
        media_type = upload.content_type.split(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            raise UnsupportedMediaType(
                f"Send the sheet as the request body with Content-Type {' or '.join(MEDIA_TYPES)}"
                f" (or as the file field 'file' of a multipart/form-data form), not "
                f"{media_type or 'no type'}."
            )
        return MEDIA_TYPES[media_type]
    suffix = PurePath(upload.name or "").suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".csv", ".txt", ".hxl"):
        return "csv"
    return "xlsx" if upload.data.startswith(b"PK\x03\x04") else "csv"


def read(upload: Upload, limits: Limits) -> Sheet:
    file_format = format_of(upload)
    if not upload.data.strip():
        raise unreadable("the file is empty")
    if file_format == "xlsx":
        grid = _xlsx_grid(upload.data, limits)
    else:
        grid = _csv_grid(upload.data, limits)
    while grid and not grid[-1]:
        grid.pop()
    if not grid:
        raise unreadable("the sheet has no rows")
    # The rows that may hold the header, as wide as the widest of them: libhxl takes the
    # columns from the hashtag row and their headers from the row above it. (Not as wide as
    # the widest row of the sheet: one data row of a million commas would make a million
    # columns.)
    region = grid[: HEADER_ROWS + 1]
    width = max(len(row) for row in region)
    for row in region:
        row += [""] * (width - len(row))
    sheet = _hxl_sheet(grid, file_format) or _plain_sheet(grid, file_format)
    limits.check_rows(len(sheet.rows))
    return sheet


def _grid(
    rows: Iterable[Sequence[Any]], text: Callable[[Any], str], limits: Limits
) -> list[list[str]]:
    """The rows as lists of text, each without its trailing empty cells (a row of a wide
    sheet is as long as its last value, a blank row is empty), read no further than the
    limits allow."""
    grid: list[list[str]] = []
    filled = 0
    for number, row in enumerate(rows):
        values = [text(value) for value in row]
        while values and not values[-1].strip():
            values.pop()
        if values:
            filled += 1
            limits.check_rows(filled - HEADER_ROWS)
        grid.append(values)
        if number % CHECK_EVERY == 0:
            limits.check_time()
    return grid


def _hxl_sheet(grid: list[list[str]], file_format: FileFormat) -> Sheet | None:
    """The sheet as libhxl reads it, when it has a hashtag row (within its first 25 rows)."""
    try:
        source = hxl.data(grid)
        columns = [
            SheetColumn(
                index=i,
                header=(column.header or "").strip(),
                tag=column.display_tag or None,
            )
            for i, column in enumerate(source.columns)
        ]
        rows = [
            SheetRow(number=row.source_row_number + 1, values=[str(v or "") for v in row.values])
            for row in source
        ]
    except hxl.input.HXLTagsNotFoundException:
        return None
    except hxl.HXLException as exc:
        raise unreadable(f"the HXL hashtag row cannot be read: {exc}") from None
    return Sheet(format=file_format, hxl=True, columns=columns, rows=_not_blank(rows))


def _plain_sheet(grid: list[list[str]], file_format: FileFormat) -> Sheet:
    """The first row with any text is the header; the rows below it are the data."""
    start = next(i for i, row in enumerate(grid) if any(cell.strip() for cell in row))
    columns = [
        SheetColumn(index=i, header=header.strip(), tag=None)
        for i, header in enumerate(grid[start])
    ]
    rows = [
        SheetRow(number=number, values=values)
        for number, values in enumerate(grid[start + 1 :], start=start + 2)
    ]
    return Sheet(format=file_format, hxl=False, columns=columns, rows=_not_blank(rows))


def _not_blank(rows: list[SheetRow]) -> list[SheetRow]:
    return [row for row in rows if any(value.strip() for value in row.values)]


def _csv_grid(data: bytes, limits: Limits) -> list[list[str]]:
    text = _decode(data)
    if "\x00" in text:
        raise unreadable("the file holds NUL characters: it is not a CSV text file")
    first = next((line for line in text.splitlines() if line.strip()), "")
    # Spreadsheets in many locales save with ";" (or tabs) between cells.
    delimiter = max(",;\t", key=first.count)
    try:
        return _grid(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), str, limits)
    except csv.Error as exc:
        raise unreadable(f"the CSV cannot be read: {exc}") from None


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _xlsx_grid(data: bytes, limits: Limits) -> list[list[str]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise unreadable("the file is not an XLSX workbook") from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise unreadable("the workbook unpacks to more than 256 MB")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises whatever its XML and zip layers raise
        raise unreadable("the file is not a readable XLSX workbook") from None
    try:
        worksheet = workbook.active
        if worksheet is None or not hasattr(worksheet, "iter_rows"):
            raise unreadable("the workbook's active sheet is not a worksheet")
        if hasattr(worksheet, "reset_dimensions"):
            # Some writers record wrong dimensions; read every row there is.
            worksheet.reset_dimensions()
        return _grid(worksheet.iter_rows(values_only=True), _cell_text, limits)
    except AppError:
        raise
    except Exception:  # a damaged sheet inside a valid archive
        raise unreadable("the workbook's active sheet cannot be read") from None
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)

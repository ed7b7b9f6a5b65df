"""5W sheets as a table of text cells: CSV (any common encoding and delimiter) or XLSX
(the active worksheet), with an HXL hashtag row or without one.

Rows are numbered as a spreadsheet shows them: the first row of the file is row 1.
"""

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any

import hxl
import hxl.input
import openpyxl

from app.errors import AppError, UnsupportedMediaType, ValidationFailed
from app.imports.schemas import FileFormat

CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES: dict[str, FileFormat] = {CSV_MEDIA_TYPE: "csv", XLSX_MEDIA_TYPE: "xlsx"}
# An XLSX is a zip archive: refuse one that would unpack to more than this (a zip bomb).
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024


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


def read(upload: Upload) -> Sheet:
    file_format = format_of(upload)
    if not upload.data.strip():
        raise unreadable("the file is empty")
    grid = _xlsx_grid(upload.data) if file_format == "xlsx" else _csv_grid(upload.data)
    while grid and not any(cell.strip() for cell in grid[-1]):
        grid.pop()
    if not grid:
        raise unreadable("the sheet has no rows")
    return _hxl_sheet(grid, file_format) or _plain_sheet(grid, file_format)


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


def _csv_grid(data: bytes) -> list[list[str]]:
    text = _decode(data)
    if "\x00" in text:
        raise unreadable("the file holds NUL characters: it is not a CSV text file")
    first = next((line for line in text.splitlines() if line.strip()), "")
    # Spreadsheets in many locales save with ";" (or tabs) between cells.
    delimiter = max(",;\t", key=first.count)
    try:
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise unreadable(f"the CSV cannot be read: {exc}") from None


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _xlsx_grid(data: bytes) -> list[list[str]]:
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
        return [[_cell_text(v) for v in row] for row in worksheet.iter_rows(values_only=True)]
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

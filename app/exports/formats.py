"""Writing an export as CSV (with an HXL hashtag row, or without), XLSX, or JSON, in
constant memory."""

import csv
import io
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from app.exports.service import Table
from app.imports.sheets import XLSX_MEDIA_TYPE


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    json = "json"


MEDIA_TYPES = {
    Format.csv: "text/csv; charset=utf-8",
    Format.xlsx: XLSX_MEDIA_TYPE,
    Format.json: "application/json",
}
# Bytes handed to the server at a time.
CHUNK_BYTES = 64 * 1024
# Rows in an Excel worksheet; an export with more goes on over further sheets.
XLSX_MAX_ROWS = 1_048_576


def render(format: Format, table: Table[Any], *, hxl: bool = True) -> Iterator[bytes]:
    """The table as a file; ``hxl`` puts the row of HXL hashtags under the header row of a
    CSV or XLSX (JSON has none), for HXL tools; without it, data tools (pandas, R, Excel's
    import) read every column as what it holds."""
    if format is Format.csv:
        return _csv(table, hxl=hxl)
    if format is Format.xlsx:
        return _xlsx(table, hxl=hxl)
    return _json(table)


def _csv(table: Table[Any], *, hxl: bool) -> Iterator[bytes]:
    """RFC 4180 CSV in UTF-8: the header row, the HXL hashtag row, then the records."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.columns)
    if hxl:
        writer.writerow(table.tags)
    for record in table.records:
        writer.writerow(
            [v.isoformat() if isinstance(v, datetime) else v for v in table.as_row(record)]
        )
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _json(table: Table[Any]) -> Iterator[bytes]:
    """``{"<member>": [record, ...]}``, each record as the matching API endpoint gives it."""
    parts = [f'{{"{table.json_member}":[']
    size = 0
    separator = ""
    for record in table.records:
        text = separator + table.as_json(record)
        separator = ","
        parts.append(text)
        size += len(text)
        if size >= CHUNK_BYTES:
            yield "".join(parts).encode()
            parts.clear()
            size = 0
    parts.append("]}")
    yield "".join(parts).encode()


def _xlsx(table: Table[Any], *, hxl: bool) -> Iterator[bytes]:
    """A workbook with the header row (bold, frozen) and the HXL hashtag row, then the
    records; sheets go on as "lines (2)", ... past Excel's row limit. openpyxl's write-only
    mode keeps rows in temporary files, so the workbook is streamed once it is complete."""
    workbook = Workbook(write_only=True)
    sheet: WriteOnlyWorksheet | None = None
    rows = sheets = 0
    for record in table.records:
        if sheet is None or rows == XLSX_MAX_ROWS:
            sheets += 1
            sheet = _new_sheet(workbook, table, sheets, hxl=hxl)
            rows = 2 if hxl else 1
        sheet.append([_xlsx_value(v) for v in table.as_row(record)])
        rows += 1
    if sheet is None:
        _new_sheet(workbook, table, 1, hxl=hxl)
    with tempfile.TemporaryFile() as file:
        workbook.save(file)
        file.seek(0)
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


def _new_sheet(
    workbook: Workbook, table: Table[Any], number: int, *, hxl: bool
) -> WriteOnlyWorksheet:
    sheet: WriteOnlyWorksheet = workbook.create_sheet(
        table.name if number == 1 else f"{table.name} ({number})"
    )
    for index, (name, tag) in enumerate(zip(table.columns, table.tags, strict=True), start=1):
        # Wide enough for the header, the hashtag and a date or a seven-digit figure.
        width = max(len(name), len(tag) if hxl else 0, 10) + 2
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A3" if hxl else "A2"
    bold = Font(bold=True)
    header = []
    for name in table.columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    if hxl:
        sheet.append(table.tags)
    return sheet


def _xlsx_value(value: Any) -> Any:
    # Excel has no time zones: timestamps are written in UTC.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth.dependencies import CurrentUser
from app.db import SessionDep
from app.idempotency.dependencies import IdempotencyDep
from app.imports import service as imports
from app.imports.dependencies import UploadDep, upload_body
from app.imports.schemas import SHEET_CSV_EXAMPLE, ImportOptions, ImportRead
from app.imports.sheets import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE
from app.openapi import problem_responses

router = APIRouter(prefix="/imports", tags=["imports"], responses=problem_responses(403))

_SHEET_BODY = upload_body(
    "The sheet itself, as the whole body, or as the file field `file` of a multipart form "
    "(as a browser uploads it).",
    {
        CSV_MEDIA_TYPE: {"schema": {"type": "string"}, "example": SHEET_CSV_EXAMPLE},
        XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
)


@router.post(
    "",
    response_model=ImportRead,
    responses=problem_responses(400, 409, 415),
    openapi_extra=_SHEET_BODY,
)
def import_sheet(
    idempotency: IdempotencyDep,
    session: SessionDep,
    user: CurrentUser,
    upload: UploadDep,
    options: Annotated[ImportOptions, Query()],
) -> Response:
    """Import a 5W sheet: one row per sitrep line, rows grouped into sitreps by country,
    crisis and period. Field officers import for their own countries.

    **The body is the file itself**: `Content-Type: text/csv` for a CSV, with or without an
    HXL hashtag row (UTF-8, Windows-1252 or Latin-1; `,`, `;` or tab between cells), or
    `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet` for an XLSX
    workbook (its active sheet). For example:
    `curl --data-binary @5w.csv -H 'Content-Type: text/csv' .../api/v1/imports?dry_run=true`.
    A browser form may send it as `multipart/form-data` instead, the file in the field
    `file` (`curl -F file=@5w.xlsx ...`; its file name tells CSV from XLSX); the options
    stay query parameters.

    Columns are named as the fields of `POST /api/v1/sitreps` (`country`, `period_start`,
    `sector`, `admin1`, `people_reached`, `women`, indicator names, ...) or tagged with
    the HXL hashtags of the cluster feed (`#country+code`, `#adm1+code`, `#sector+code`,
    `#date+start`, `#reached`, `#reached+f+adults`, ...); `column=FIELD=HEADER` names any
    other column (e.g. `column=people_reached=Achieved`). A month column (`period`,
    `#period_date`: "June", "juin 2014", "2014-06") makes month-long periods. Names are
    resolved: country names in any UN language, admin1/admin2 names of the row's country
    (accents, case, punctuation and words like "Région de" ignored) and sector names
    ("WASH", "Shelter/NFI", "Water, Sanitation & Hygiene"). Rows of clusters this service
    does not track (Food Security, Protection, ...) and rows left out by `only` are
    skipped and listed.

    The answer is 200 with a report: every problem with its `row` (as a spreadsheet
    numbers it), `column` and `reason`; each sitrep's rows, lines and outcome; the ids
    created. A sitrep with any bad row is refused whole; the others are written, unless
    `strict=true`, which writes nothing at all when anything is refused. `dry_run=true`
    checks everything, slot conflicts included, and writes nothing.

    **Importing again.** `mode=create` (the default) refuses a sitrep of the sheet that a
    live sitrep already holds (same country, crisis and period, a slot in common) with a
    409. `mode=upsert` amends such a sitrep as a new revision when a figure changed
    (`changes` lists each line, field, old and new), leaves it alone when none did
    (`unchanged`), and creates the others; `mode=update` amends and refuses (404) what
    matches nothing. So an updated sheet can be imported again and again. The report counts
    `created`, `amended`, `unchanged`, `refused` and `rows_skipped`; a dry run's counts are
    what the real run will do.

    **What the figures mean** is declared, never guessed: `figures=new` (the people column
    counts people reached for the first time this year), `period` (everyone reached in the
    period) or `cumulative` (everyone reached since 1 January). A sheet that reports a slot
    for several periods without a column of new or cumulative people is a 422 until
    `figures` says; with `figures=period` the report's `notes` warn where monthly figures
    add up to the year. A p-code of an earlier dataset version (Chad's `TD07` for `TCD07`)
    is taken as the current one, and noted. A file that cannot be
    read at all, or lacks a needed column, is a 422; another content type a 415. With an
    `Idempotency-Key` a retried import answers as the first did."""
    report = imports.run(session, upload=upload, options=options, user=user)
    return idempotency.respond(session, report, status_code=status.HTTP_200_OK)

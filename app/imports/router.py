from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.auth.dependencies import CurrentUser
from app.db import SessionDep
from app.errors import problem_responses
from app.idempotency.dependencies import IdempotencyDep
from app.imports import service as imports
from app.imports.dependencies import UploadDep
from app.imports.schemas import SHEET_CSV_EXAMPLE, ImportOptions, ImportRead
from app.imports.sheets import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE

router = APIRouter(prefix="/imports", tags=["imports"], responses=problem_responses(403))

_SHEET_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The sheet itself, as the whole body.",
        "content": {
            CSV_MEDIA_TYPE: {"schema": {"type": "string"}, "example": SHEET_CSV_EXAMPLE},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


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

    **The body is the file itself** (not a multipart form): `Content-Type: text/csv` for a
    CSV, with or without an HXL hashtag row (UTF-8, Windows-1252 or Latin-1; `,`, `;` or
    tab between cells), or `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`
    for an XLSX workbook (its active sheet). For example:
    `curl --data-binary @5w.csv -H 'Content-Type: text/csv' .../api/v1/imports?dry_run=true`.

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
    checks everything, slot conflicts included, and writes nothing. A file that cannot be
    read at all, or lacks a needed column, is a 422; another content type a 415. With an
    `Idempotency-Key` a retried import answers as the first did."""
    report = imports.run(session, upload=upload, options=options, user=user)
    return idempotency.respond(session, report, status_code=status.HTTP_200_OK)

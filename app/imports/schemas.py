import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.db import MAX_ID
from app.errors import Problem
from app.schemas import RequestModel
from app.sitreps.schemas import DivisionCode, PhaseCode

FileFormat = Literal["csv", "xlsx"]

# A 5W sheet of Sudan's office for February 2024 (p-codes, or admin names the import
# resolves), and the report of its dry run.
SHEET_CSV_EXAMPLE = """\
country,period_start,period_end,sector,division,phase,admin1,admin2,people_reached,women,men,girls,boys
SDN,2024-02-01,2024-02-29,shelter,hod,response,SD01,,1200,400,300,260,240
SDN,2024-02-01,2024-02-29,wash,hod,response,North Darfur,Al Fasher,2500,800,700,520,480
"""

# "FIELD=COLUMN": take a field from the column with this header (or HXL hashtag).
COLUMN_MAPPING = re.compile(r"^\s*(?P<field>[A-Za-z0-9_]+)\s*=\s*(?P<column>\S.*?)\s*$")
# "COLUMN~TEXT" (the cell contains TEXT) or "COLUMN=TEXT" (the cell is TEXT).
ROW_FILTER = re.compile(r"^\s*(?P<column>[^~=]*?\S)\s*(?P<op>[~=])\s*(?P<text>\S.*?)\s*$")


class Combine(StrEnum):
    """What to do with several rows of one sitrep for the same slot (sector, division,
    phase, admin1, admin2)."""

    refuse = "refuse"
    max = "max"
    sum = "sum"


def _matches(pattern: re.Pattern[str], syntax: str) -> AfterValidator:
    def check(values: list[str]) -> list[str]:
        for value in values:
            if "\x00" in value or not pattern.match(value):
                raise ValueError(f"{value!r} is not of the form {syntax}")
        return values

    return AfterValidator(check)


class ImportOptions(RequestModel):
    """How to read a 5W sheet; the defaults apply to rows whose cell is empty or whose
    sheet has no such column."""

    dry_run: bool = Field(default=False, description="Check everything and report; write nothing.")
    strict: bool = Field(
        default=False,
        description="Write nothing at all when any row or sitrep has a problem.",
    )
    division: DivisionCode | None = Field(default=None, description="Default DHRR division.")
    phase: PhaseCode | None = Field(default=None, description="Default MCOF phase.")
    year: int | None = Field(
        default=None,
        ge=1990,
        le=2100,
        description="The year of period cells that name only a month (e.g. 'June').",
    )
    crisis_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = Field(
        default=None, description="Default crisis."
    )
    column: Annotated[list[str], _matches(COLUMN_MAPPING, "FIELD=COLUMN")] = Field(
        default_factory=list,
        max_length=50,
        description="FIELD=COLUMN: read a field from the column with this header or HXL "
        "hashtag, e.g. people_reached=Achieved (repeatable).",
    )
    only: Annotated[list[str], _matches(ROW_FILTER, "COLUMN~TEXT or COLUMN=TEXT")] = Field(
        default_factory=list,
        max_length=20,
        description="COLUMN~TEXT keeps only rows whose cell contains TEXT, COLUMN=TEXT rows "
        "whose cell is TEXT (case and accents ignored); other rows are skipped (repeatable; "
        "all must hold).",
    )
    combine: Combine = Field(
        default=Combine.refuse,
        description="Rows of one sitrep for the same slot: 'refuse' them (default), keep "
        "the 'max' of each figure (OCHA's rule against double counting), or 'sum' them.",
    )


class ImportProblem(BaseModel):
    """Why a row was refused or skipped: ``row`` is the row number as a spreadsheet shows
    it (the header is row 1); ``column`` the column's header (or hashtag), or the option
    the value came from."""

    row: int | None
    column: str | None
    reason: str
    status: int | None = Field(
        default=None,
        description="For a refused row, the status of its problem (422; 403 or 409 when its "
        "sitrep was refused for permission or a slot already reported); none when skipped.",
    )


class ImportedLine(BaseModel):
    rows: list[int]
    sector: str
    division: str
    phase: str
    admin1: str | None
    admin2: str | None
    people_reached: int
    people_reached_new: int | None
    people_targeted: int | None


class ImportedSitrep(BaseModel):
    """One sitrep made of rows of the sheet. ``outcome`` is ``created``; ``valid`` when it
    would have been created but nothing was written (a dry run, or a strict import with a
    problem elsewhere); or ``refused``, with the problem."""

    country: str
    crisis_id: int | None
    period_start: date
    period_end: date
    rows: list[int]
    lines: list[ImportedLine]
    outcome: Literal["created", "valid", "refused"]
    status: int
    sitrep_id: int | None = None
    problem: Problem | None = None


class ImportRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "format": "csv",
                    "hxl": False,
                    "dry_run": True,
                    "strict": False,
                    "written": False,
                    "rows": 2,
                    "rows_skipped": 0,
                    "sitreps": 1,
                    "accepted": 1,
                    "refused": 0,
                    "lines": 2,
                    "created_sitrep_ids": [],
                    "columns": {
                        "country": "country",
                        "period_start": "period_start",
                        "period_end": "period_end",
                        "sector": "sector",
                        "division": "division",
                        "phase": "phase",
                        "admin1": "admin1",
                        "admin2": "admin2",
                        "people_reached": "people_reached",
                        "women": "women",
                        "men": "men",
                        "girls": "girls",
                        "boys": "boys",
                    },
                    "problems": [],
                    "skipped": [],
                    "results": [
                        {
                            "country": "SDN",
                            "crisis_id": None,
                            "period_start": "2024-02-01",
                            "period_end": "2024-02-29",
                            "rows": [2, 3],
                            "lines": [
                                {
                                    "rows": [2],
                                    "sector": "shelter",
                                    "division": "hod",
                                    "phase": "response",
                                    "admin1": "SD01",
                                    "admin2": None,
                                    "people_reached": 1200,
                                    "people_reached_new": None,
                                    "people_targeted": None,
                                },
                                {
                                    "rows": [3],
                                    "sector": "wash",
                                    "division": "hod",
                                    "phase": "response",
                                    "admin1": "SD02",
                                    "admin2": "SD02114",
                                    "people_reached": 2500,
                                    "people_reached_new": None,
                                    "people_targeted": None,
                                },
                            ],
                            "outcome": "valid",
                            "status": 201,
                            "sitrep_id": None,
                            "problem": None,
                        }
                    ],
                }
            ]
        }
    )

    format: FileFormat
    hxl: bool
    dry_run: bool
    strict: bool
    written: bool = Field(description="Whether any sitrep was written.")
    rows: int = Field(description="Rows of data read (blank rows aside).")
    rows_skipped: int
    sitreps: int
    accepted: int
    refused: int
    lines: int
    created_sitrep_ids: list[int]
    columns: dict[str, str] = Field(description="Which column each field was read from.")
    problems: list[ImportProblem]
    skipped: list[ImportProblem]
    results: list[ImportedSitrep]

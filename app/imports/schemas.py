import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.db import MAX_ID
from app.openapi import Problem
from app.schemas import RequestModel
from app.sitreps.schemas import SITREP_EXAMPLE, DivisionCode, PhaseCode


def _example_line(row: int, line: int) -> dict[str, Any]:
    """A line of the example sheet: a line of the sitrep example, its people only."""
    kept = ("sector", "division", "phase", "admin1", "admin2", "people_reached")
    return {
        "rows": [row],
        **{name: SITREP_EXAMPLE["lines"][line][name] for name in kept},
        "people_reached_new": None,
        "people_reached_cumulative": None,
        "people_targeted": None,
    }


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


class Mode(StrEnum):
    """What to do with a sheet's sitrep that matches a live one (same country, crisis and
    period, sharing a slot): ``create`` refuses it (409, as a second submission would be),
    ``update`` amends it and refuses sitreps that match nothing, ``upsert`` amends what
    matches and creates the rest."""

    create = "create"
    update = "update"
    upsert = "upsert"


class Figures(StrEnum):
    """What the people_reached column counts (DOMAIN.md): ``new`` people reached for the
    first time this year (people_reached_new too); ``period`` everyone reached in the
    period, some perhaps reached before (people_reached_new absent); ``cumulative`` everyone
    reached since 1 January up to the period's end (people_reached_cumulative)."""

    new = "new"
    period = "period"
    cumulative = "cumulative"


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
    mode: Mode = Field(
        default=Mode.create,
        description="'create' (default): a sitrep of the sheet that a live sitrep already "
        "holds (same country, crisis and period, a slot in common) is refused (409); "
        "'update': such sitreps are amended (a new revision, only when a figure changed) "
        "and the others refused; 'upsert': amended, and the others created.",
    )
    figures: Figures | None = Field(
        default=None,
        description="What the people_reached column counts: 'new' (people reached for the "
        "first time this year), 'period' (everyone reached in the period) or 'cumulative' "
        "(everyone reached since 1 January). Required when the sheet gives a slot several "
        "periods and has no column of new or cumulative people.",
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
        "sitrep was refused for permission or a slot already reported; 404 when mode=update "
        "found no sitrep to update; 412 when the sitrep changed during the import); none "
        "when skipped.",
    )


class ImportNote(BaseModel):
    """Something the import did that the sheet did not say in so many words: a p-code of an
    earlier dataset version taken as the current one, or figures that may count people
    twice. ``rows`` are the rows it concerns."""

    kind: Literal["pcode", "figures"]
    rows: list[int]
    column: str | None
    note: str


class ImportedChange(BaseModel):
    """How an amended sitrep differs from its previous revision: a figure of a line that
    changed (``field``, ``old``, ``new``), a line added or a line removed."""

    line: str = Field(description="sector/division/phase at admin2, admin1 or country-wide")
    change: Literal["changed", "added", "removed"]
    field: str | None = None
    old: Any = None
    new: Any = None


class ImportedLine(BaseModel):
    rows: list[int]
    sector: str
    division: str
    phase: str
    admin1: str | None
    admin2: str | None
    people_reached: int
    people_reached_new: int | None
    people_reached_cumulative: int | None = None
    people_targeted: int | None


class ImportedSitrep(BaseModel):
    """One sitrep made of rows of the sheet. ``action`` is what the import does with it,
    the same in a dry run as in the real run: ``create`` it, ``amend`` the live sitrep it
    matches (``changes`` lists how), leave it ``unchanged`` (it matches a live sitrep with
    the same figures), or ``refuse`` it (with the problem). ``outcome`` is what happened:
    ``created``, ``amended``, ``unchanged``, ``refused``, or ``valid`` when it would have
    been created or amended but nothing was written (a dry run, or a strict import with a
    problem elsewhere)."""

    country: str
    crisis_id: int | None
    period_start: date
    period_end: date
    rows: list[int]
    lines: list[ImportedLine]
    action: Literal["create", "amend", "unchanged", "refuse"]
    outcome: Literal["created", "amended", "unchanged", "valid", "refused"]
    status: int
    sitrep_id: int | None = Field(
        default=None, description="The sitrep created, amended or matched unchanged."
    )
    changes: list[ImportedChange] = Field(default_factory=list)
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
                    "mode": "create",
                    "figures": None,
                    "written": False,
                    "rows": 2,
                    "rows_skipped": 0,
                    "sitreps": 1,
                    "accepted": 1,
                    "refused": 0,
                    "created": 1,
                    "amended": 0,
                    "unchanged": 0,
                    "lines": 2,
                    "created_sitrep_ids": [],
                    "amended_sitrep_ids": [],
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
                    "problems_total": 0,
                    "problems": [],
                    "skipped": [],
                    "notes": [],
                    "results": [
                        {
                            "country": "SDN",
                            "crisis_id": None,
                            "period_start": "2024-02-01",
                            "period_end": "2024-02-29",
                            "rows": [2, 3],
                            "lines": [_example_line(2, 0), _example_line(3, 1)],
                            "action": "create",
                            "outcome": "valid",
                            "status": 201,
                            "sitrep_id": None,
                            "changes": [],
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
    mode: Mode
    figures: Figures | None
    written: bool = Field(description="Whether any sitrep was written.")
    rows: int = Field(description="Rows of data read (blank rows aside).")
    rows_skipped: int = Field(description="Rows skipped (listed in skipped).")
    sitreps: int
    accepted: int = Field(description="Sitreps created, amended or unchanged.")
    refused: int
    created: int = Field(
        description="Sitreps created (in a dry run: that the real run would create)."
    )
    amended: int = Field(description="Sitreps amended (in a dry run: that would be).")
    unchanged: int = Field(description="Sitreps that match a live one with the same figures.")
    lines: int
    created_sitrep_ids: list[int]
    amended_sitrep_ids: list[int]
    columns: dict[str, str] = Field(description="Which column each field was read from.")
    problems_total: int = Field(description="Problems found; problems lists the first 1,000.")
    problems: list[ImportProblem] = Field(
        description="The first 1,000 problems, by row (problems_total counts them all)."
    )
    skipped: list[ImportProblem] = Field(
        description="The first 1,000 rows skipped, by row (rows_skipped counts them all)."
    )
    notes: list[ImportNote]
    results: list[ImportedSitrep]

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt, StringConstraints

from app.db import MAX_ID
from app.errors import Problem
from app.schemas import RequestModel
from app.sitreps.models import SitrepStatus

MAX_PEOPLE = 1_000_000_000

People = Annotated[int, Field(strict=True, ge=0, le=MAX_PEOPLE)]
CountryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3, max_length=3)
]
PCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=2, max_length=20)
]
SectorCode = Literal["shelter", "wash", "cccm", "cash", "health"]
DivisionCode = Literal["pcca", "prd", "hod"]
PhaseCode = Literal["preparedness", "response", "recovery"]
IndicatorValue = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), decimal_places=2)]


class Disaggregation(RequestModel):
    """People reached by sex and age: adults are 18 and over."""

    women: People
    men: People
    girls: People
    boys: People


class LineIn(RequestModel):
    sector: SectorCode
    division: DivisionCode
    phase: PhaseCode
    admin1: PCode | None = None
    admin2: PCode | None = None
    people_reached: People
    people_reached_new: People | None = Field(
        default=None,
        description="Of people_reached, those reached for the first time this calendar year "
        "in this sector at this location; when absent, equal to people_reached.",
    )
    people_targeted: People | None = None
    disaggregation: Disaggregation | None = None
    persons_with_disabilities: People | None = None
    indicators: dict[Annotated[str, StringConstraints(max_length=40)], IndicatorValue] = Field(
        default_factory=dict,
        description="Sector indicators (see GET /api/v1/sectors); an indicator of another "
        "sector is an error.",
    )


class SitrepCreate(RequestModel):
    country: CountryCode
    crisis_id: Annotated[int, Field(strict=True, ge=1, le=MAX_ID)] | None = None
    period_start: date
    period_end: date
    narrative: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    lines: list[LineIn] = Field(
        min_length=1,
        description="At least one line; a period in which nobody was reached is reported "
        "as a line with people_reached 0.",
    )


class SitrepBatch(RequestModel):
    # Each sitrep is validated on its own, so that a bad one refuses only itself.
    sitreps: list[Any] = Field(
        min_length=1, description="Sitreps as POST /api/v1/sitreps takes them."
    )


class SitrepWithdraw(RequestModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class LineRead(BaseModel):
    id: int
    sector: SectorCode
    division: DivisionCode
    phase: PhaseCode
    admin1: str | None
    admin2: str | None
    people_reached: int
    people_reached_new: int
    people_targeted: int | None
    disaggregation: Disaggregation | None
    persons_with_disabilities: int | None
    indicators: dict[str, StrictInt | Decimal]


class SitrepRevisionRead(BaseModel):
    revision: int
    country: str
    crisis_id: int | None
    period_start: date
    period_end: date
    narrative: str | None
    lines: list[LineRead]
    submitted_by: str
    submitted_at: datetime


class SitrepRead(SitrepRevisionRead):
    id: int
    status: SitrepStatus
    created_at: datetime
    withdrawn_at: datetime | None
    withdrawal_reason: str | None


class BatchItemResult(BaseModel):
    """One sitrep of a batch: its status (201, or the problem's), and the sitrep or the
    problem."""

    index: int
    status: int
    sitrep: SitrepRead | None = None
    problem: Problem | None = None


class BatchRead(BaseModel):
    accepted: int
    refused: int
    results: list[BatchItemResult]

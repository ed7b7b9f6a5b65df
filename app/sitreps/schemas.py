from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictInt, StringConstraints
from pydantic_core import PydanticCustomError

from app.db import MAX_ID
from app.openapi import PROBLEM_EXAMPLES, Problem
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

# The examples of the OpenAPI document: one sitrep of Sudan (p-codes of pcodes.csv), as a
# field office submits it and as the service answers it; tests/http/test_openapi.py submits it.
SITREP_EXAMPLE: dict[str, Any] = {
    "country": "SDN",
    "crisis_id": 7,
    "period_start": "2024-03-01",
    "period_end": "2024-03-31",
    "narrative": "Fighting in Khartoum and North Darfur kept displacing families; shelter "
    "kits and water trucking reached those arriving in Al Fasher.",
    "lines": [
        {
            "sector": "shelter",
            "division": "hod",
            "phase": "response",
            "admin1": "SD01",
            "admin2": None,
            "people_reached": 1200,
            "people_reached_new": 300,
            "people_targeted": 1500,
            "disaggregation": {"women": 400, "men": 300, "girls": 260, "boys": 240},
            "persons_with_disabilities": 30,
            "indicators": {"households_assisted": 240, "shelter_kits": 180},
        },
        {
            "sector": "wash",
            "division": "hod",
            "phase": "response",
            "admin1": "SD02",
            "admin2": "SD02114",
            "people_reached": 2500,
            "people_reached_new": 2500,
            "people_targeted": 3000,
            "disaggregation": {"women": 800, "men": 700, "girls": 520, "boys": 480},
            "persons_with_disabilities": 75,
            "indicators": {"water_points": 6, "latrines": 40},
        },
        {
            "sector": "cash",
            "division": "hod",
            "phase": "response",
            "admin1": "SD01",
            "admin2": None,
            "people_reached": 500,
            "people_reached_new": 500,
            "people_targeted": None,
            "disaggregation": None,
            "persons_with_disabilities": None,
            "indicators": {"cash_usd": "37500.50", "transfers": 100},
        },
    ],
}
# The next month of the same office: the shelter line again, given as the people reached
# so far this year: 300 by March, 450 by April, so 150 of April's 400 were new.
SITREP_APRIL_EXAMPLE: dict[str, Any] = {
    **SITREP_EXAMPLE,
    "period_start": "2024-04-01",
    "period_end": "2024-04-30",
    "narrative": "Returns to Khartoum's eastern localities began.",
    "lines": [
        {
            **{k: v for k, v in SITREP_EXAMPLE["lines"][0].items() if k != "people_reached_new"},
            "people_reached": 400,
            "people_reached_cumulative": 450,
            "disaggregation": {"women": 130, "men": 100, "girls": 90, "boys": 80},
            "persons_with_disabilities": 20,
            "indicators": {"households_assisted": 80},
        }
    ],
}
_SUBMITTED_AT = "2024-04-03T08:15:22Z"
SITREP_REVISION_EXAMPLE: dict[str, Any] = {
    **SITREP_EXAMPLE,
    "revision": 1,
    "lines": [
        {
            "id": 101 + i,
            **{k: v for k, v in line.items() if k not in ("people_targeted",)},
            "people_reached_cumulative": None,
            "people_targeted": line["people_targeted"],
        }
        for i, line in enumerate(SITREP_EXAMPLE["lines"])
    ],
    "submitted_by": "amal.hassan",
    "submitted_at": _SUBMITTED_AT,
}
SITREP_READ_EXAMPLE: dict[str, Any] = {
    **SITREP_REVISION_EXAMPLE,
    "id": 42,
    "status": "submitted",
    "created_at": _SUBMITTED_AT,
    "withdrawn_at": None,
    "withdrawal_reason": None,
}


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
        "in this sector at this location; when absent (and no people_reached_cumulative is "
        "given), equal to people_reached.",
    )
    people_reached_cumulative: People | None = Field(
        default=None,
        description="Instead of people_reached_new: people reached since 1 January in this "
        "sector at this location, up to the period's end (at least people_reached). The new "
        "reach it stands for is its increase over the latest earlier period of the year; a "
        "figure lower than that period's is a 409.",
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
    model_config = ConfigDict(json_schema_extra={"examples": [SITREP_EXAMPLE]})

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


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PydanticCustomError("model_type", "Input should be an object")
    return value


# A sitrep body as the OpenAPI document shows it (SitrepCreate), read only as far as a JSON
# object: the service validates it, so that the schema's problems and the rules' come back
# in one 422 (app.sitreps.bodies.validated).
SitrepDocument = Annotated[
    dict[str, Any], PlainValidator(_json_object, json_schema_input_type=SitrepCreate)
]


class SitrepBatch(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"sitreps": [SITREP_EXAMPLE, SITREP_APRIL_EXAMPLE]}]}
    )

    # Each sitrep is validated on its own, so that a bad one refuses only itself.
    sitreps: list[Any] = Field(
        min_length=1, description="Sitreps as POST /api/v1/sitreps takes them."
    )


class SitrepWithdraw(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "Entered twice: sitrep 41 holds the same March distributions."}]
        }
    )

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class LineRead(BaseModel):
    id: int
    sector: SectorCode
    division: DivisionCode
    phase: PhaseCode
    admin1: str | None
    admin2: str | None
    people_reached: int
    people_reached_new: int = Field(
        description="The new reach the line counts for: as given, or, for a line that gave "
        "people_reached_cumulative, its increase over the latest earlier period of the year "
        "(it follows amendments and withdrawals of earlier periods)."
    )
    people_reached_cumulative: int | None = Field(
        default=None, description="The year-to-date figure as given; null when not given."
    )
    people_targeted: int | None
    disaggregation: Disaggregation | None
    persons_with_disabilities: int | None
    indicators: dict[str, StrictInt | Decimal]


class SitrepRevisionRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SITREP_REVISION_EXAMPLE]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [SITREP_READ_EXAMPLE]})

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 1,
                    "refused": 1,
                    "results": [
                        {"index": 0, "status": 201, "sitrep": SITREP_READ_EXAMPLE, "problem": None},
                        {
                            "index": 1,
                            "status": 409,
                            "sitrep": None,
                            "problem": PROBLEM_EXAMPLES[409],
                        },
                    ],
                }
            ]
        }
    )

    accepted: int
    refused: int
    results: list[BatchItemResult]

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field


class MonthState(StrEnum):
    reported = "reported"
    missing = "missing"
    not_due = "not_due"
    not_expected = "not_expected"


class MonthCompleteness(BaseModel):
    month: int = Field(description="1 to 12.")
    sitreps: int = Field(description="Live sitreps whose period touches the month.")
    state: MonthState = Field(
        description="reported: at least one sitrep; missing: none, and the month is over and "
        "within the office's reporting; not_due: the month is not over yet; not_expected: the "
        "month is before the office started reporting."
    )


class OfficeCompleteness(BaseModel):
    country: str
    name: str
    reporting_since: date = Field(
        description="The earlier of the start of its first live sitrep's period and the start "
        "of its earliest crisis: months before it are not expected."
    )
    last_period_end: date | None = Field(
        description="The end of the latest period a live sitrep of the office covers, any year."
    )
    missing: int = Field(description="Months of the year in the state missing.")
    months: list[MonthCompleteness]


class Completeness(BaseModel):
    year: int
    as_of: date = Field(description="Months ending before this date are due.")
    years: list[int] = Field(
        description="Years with live sitreps in your scope, and the current year: what a "
        "year selector offers."
    )
    offices: list[OfficeCompleteness]

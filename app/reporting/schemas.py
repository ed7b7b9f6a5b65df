from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "year": 2024,
                    "as_of": "2024-05-10",
                    "years": [2023, 2024],
                    "offices": [
                        {
                            "country": "SDN",
                            "name": "Sudan",
                            "reporting_since": "2023-04-15",
                            "last_period_end": "2024-04-30",
                            "missing": 1,
                            "months": [
                                {"month": 1, "sitreps": 0, "state": "missing"},
                                {"month": 2, "sitreps": 1, "state": "reported"},
                                {"month": 3, "sitreps": 1, "state": "reported"},
                                {"month": 4, "sitreps": 1, "state": "reported"},
                                {"month": 5, "sitreps": 0, "state": "not_due"},
                                {"month": 6, "sitreps": 0, "state": "not_due"},
                                {"month": 7, "sitreps": 0, "state": "not_due"},
                                {"month": 8, "sitreps": 0, "state": "not_due"},
                                {"month": 9, "sitreps": 0, "state": "not_due"},
                                {"month": 10, "sitreps": 0, "state": "not_due"},
                                {"month": 11, "sitreps": 0, "state": "not_due"},
                                {"month": 12, "sitreps": 0, "state": "not_due"},
                            ],
                        }
                    ],
                }
            ]
        }
    )

    year: int
    as_of: date = Field(description="Months ending before this date are due.")
    years: list[int] = Field(
        description="Years with live sitreps in your scope, and the current year: what a "
        "year selector offers."
    )
    offices: list[OfficeCompleteness]


class FlaggedSlot(BaseModel):
    sector: str
    division: str
    phase: str
    crisis_id: int | None
    admin1: str | None
    admin2: str | None
    periods: int = Field(description="Live sitreps of the year reporting the slot there.")
    people_reached: int = Field(
        description="What totals count for it this year: the sum of its people_reached_new."
    )
    share: float = Field(
        description="people_reached as a share of the country's people_reached for the year "
        "(0 to 1, 4 decimals)."
    )


class CountryFlags(BaseModel):
    country: str
    name: str
    people_reached: int = Field(description="The country's people_reached for the year.")
    flagged_reach: int = Field(description="The reach the flagged slots carry, added up.")
    share: float = Field(description="flagged_reach ÷ people_reached (4 decimals).")
    slots: list[FlaggedSlot] = Field(description="By people_reached, largest first.")


class DoubleCounting(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "year": 2024,
                    "years": [2023, 2024],
                    "countries": [
                        {
                            "country": "SDN",
                            "name": "Sudan",
                            "people_reached": 476000,
                            "flagged_reach": 36000,
                            "share": 0.0756,
                            "slots": [
                                {
                                    "sector": "wash",
                                    "division": "hod",
                                    "phase": "response",
                                    "crisis_id": 7,
                                    "admin1": "SD01",
                                    "admin2": None,
                                    "periods": 3,
                                    "people_reached": 36000,
                                    "share": 0.0756,
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )

    year: int
    years: list[int] = Field(description="Years with live sitreps in your scope.")
    countries: list[CountryFlags] = Field(
        description="Countries with at least one flagged slot, in country order."
    )

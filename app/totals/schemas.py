from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TotalsRow(BaseModel):
    """One group's figures. Only the fields the totals were grouped by appear, besides
    country and year."""

    country: str
    year: int
    sector: str | None = None
    division: str | None = None
    phase: str | None = None
    crisis_id: int | None = None
    admin1: str | None = None
    people_reached: int = Field(
        description="Sum of people_reached_new: each person once a year per sector and "
        "location. What a sector or cluster reports."
    )
    people_reached_unique: int = Field(
        description="People reached by at least one sector (estimate): at each location the "
        "largest sector's reach, added up over locations."
    )
    people_reached_in_periods: int = Field(
        description="Sum of people_reached over periods: repeat assistance counts again."
    )
    people_targeted: int = Field(
        description="Sum of the yearly targets: for each slot and location, the target stated "
        "by its latest live period of the year that states one (a restatement replaces, "
        "never adds)."
    )
    people_targeted_unique: int = Field(
        description="The yearly targets as people_reached_unique counts people: at each "
        "location the largest sector's target, added up over locations."
    )
    women: int = Field(
        description="people_reached split by sex and age: women (18+). Each line's new reach "
        "is split in the proportions of its own disaggregation, by the largest remainder "
        "(floor of each share, the people left over one each to the largest remainders, "
        "ties to women, men, girls, boys in that order), so women + men + girls + boys + "
        "people_reached_not_disaggregated = people_reached exactly."
    )
    men: int = Field(description="people_reached split by sex and age: men (18+); see women.")
    girls: int = Field(
        description="people_reached split by sex and age: girls (under 18); see women."
    )
    boys: int = Field(
        description="people_reached split by sex and age: boys (under 18); see women."
    )
    people_reached_not_disaggregated: int = Field(
        description="The part of people_reached from lines that gave no disaggregation."
    )
    lines: int
    people_in_need: int | None = Field(
        None,
        description="People in need of the row's country, year and grouping, from the "
        "loaded needs overview (GET /api/v1/needs): its sector's figure when grouped by "
        "sector, else the Intersectoral one; its admin1 area's when grouped by admin1, else "
        "the national one. Null where unknown, and for rows grouped by division, phase or "
        "crisis (no need matches them).",
    )
    coverage: float | None = Field(
        None,
        description="people_reached ÷ people_in_need (people_reached_unique ÷ the "
        "Intersectoral figure for rows not grouped by sector), rounded to 4 decimals "
        "(0.0192 is 1.92 %). Null where people_in_need is unknown or zero.",
    )


# GET /api/v1/totals?group_by=sector once the sitrep example of app/sitreps/schemas.py is in
# and the needs example of app/needs/router.py loaded.
TOTALS_EXAMPLE: dict[str, Any] = {
    "rows": [
        {
            "country": "SDN",
            "year": 2024,
            "sector": "cash",
            "people_reached": 500,
            "people_reached_unique": 500,
            "people_reached_in_periods": 500,
            "people_targeted": 0,
            "people_targeted_unique": 0,
            "women": 0,
            "men": 0,
            "girls": 0,
            "boys": 0,
            "people_reached_not_disaggregated": 500,
            "lines": 1,
            "people_in_need": None,
            "coverage": None,
        },
        {
            "country": "SDN",
            "year": 2024,
            "sector": "shelter",
            "people_reached": 300,
            "people_reached_unique": 300,
            "people_reached_in_periods": 1200,
            "people_targeted": 1500,
            "people_targeted_unique": 1500,
            "women": 100,
            "men": 75,
            "girls": 65,
            "boys": 60,
            "people_reached_not_disaggregated": 0,
            "lines": 1,
            "people_in_need": None,
            "coverage": None,
        },
        {
            "country": "SDN",
            "year": 2024,
            "sector": "wash",
            "people_reached": 2500,
            "people_reached_unique": 2500,
            "people_reached_in_periods": 2500,
            "people_targeted": 3000,
            "people_targeted_unique": 3000,
            "women": 800,
            "men": 700,
            "girls": 520,
            "boys": 480,
            "people_reached_not_disaggregated": 0,
            "lines": 1,
            "people_in_need": 18982714,
            "coverage": 0.0001,
        },
    ]
}


class Totals(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [TOTALS_EXAMPLE]})

    rows: list[TotalsRow]

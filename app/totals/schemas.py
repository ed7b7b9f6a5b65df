from pydantic import BaseModel, Field


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
    people_targeted: int
    lines: int


class Totals(BaseModel):
    rows: list[TotalsRow]

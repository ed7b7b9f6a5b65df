"""The query parameters of totals, shared by GET /totals and its exports."""

from typing import Annotated

from fastapi import Depends, Query

from app.errors import ValidationFailed
from app.http.parameters import QueryId
from app.reference import catalog as reference
from app.reference.dependencies import CountryList, split_codes
from app.sectors.catalog import SECTORS
from app.totals import service as totals


def _years(
    year: Annotated[str | None, Query(description="One or more years, comma-separated.")] = None,
) -> list[int] | None:
    if year is None:
        return None
    try:
        years = [int(part) for part in year.split(",") if part.strip()]
    except ValueError:
        years = []
    if not years or any(not 1900 <= y <= 2200 for y in years):
        raise ValidationFailed(
            [(("query", "year"), f"{year!r}: give years like 2024 or 2023,2024")]
        )
    return years


YearList = Annotated[list[int] | None, Depends(_years)]


def _sectors(
    sector: Annotated[str | None, Query(description="Sector codes, comma-separated.")] = None,
) -> list[str] | None:
    return split_codes("sector", sector, allowed=SECTORS)


def _divisions(
    division: Annotated[str | None, Query(description="Division codes, comma-separated.")] = None,
) -> list[str] | None:
    return split_codes("division", division, allowed=reference.DIVISIONS)


def _phases(
    phase: Annotated[str | None, Query(description="MCOF phase codes, comma-separated.")] = None,
) -> list[str] | None:
    return split_codes("phase", phase, allowed=reference.PHASES)


SectorList = Annotated[list[str] | None, Depends(_sectors)]
DivisionList = Annotated[list[str] | None, Depends(_divisions)]
PhaseList = Annotated[list[str] | None, Depends(_phases)]


def _totals_query(
    country: CountryList = None,
    group_by: Annotated[
        str | None,
        Query(
            description="Any of sector, division, phase, crisis, admin1, comma-separated; "
            "country and year are always grouped."
        ),
    ] = None,
    year: YearList = None,
    sector: SectorList = None,
    division: DivisionList = None,
    phase: PhaseList = None,
    crisis_id: QueryId = None,
) -> totals.TotalsQuery:
    return totals.TotalsQuery(
        group_by=tuple(split_codes("group_by", group_by, allowed=totals.GROUPS) or ()),
        countries=country,
        years=year,
        sectors=sector,
        divisions=division,
        phases=phase,
        crisis_id=crisis_id,
    )


TotalsQueryDep = Annotated[totals.TotalsQuery, Depends(_totals_query)]

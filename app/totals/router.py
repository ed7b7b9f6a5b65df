from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import CurrentUser
from app.db import QueryId, SessionDep
from app.errors import ValidationFailed, problem_responses
from app.reference import service as reference
from app.reference.dependencies import CountryList, split_codes
from app.sectors.service import SECTORS
from app.totals import service as totals
from app.totals.schemas import Totals

router = APIRouter(tags=["totals"])


def _years(raw: str | None) -> list[int] | None:
    if raw is None:
        return None
    try:
        years = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        years = []
    if not years or any(not 1900 <= y <= 2200 for y in years):
        raise ValidationFailed([(("query", "year"), f"{raw!r}: give years like 2024 or 2023,2024")])
    return years


@router.get(
    "/totals",
    response_model=Totals,
    response_model_exclude_unset=True,
    responses=problem_responses(403),
)
def read_totals(
    session: SessionDep,
    user: CurrentUser,
    country: CountryList = None,
    group_by: Annotated[
        str | None,
        Query(
            description="Any of sector, division, phase, crisis, admin1, comma-separated; "
            "country and year are always grouped."
        ),
    ] = None,
    year: Annotated[str | None, Query(description="One or more years, comma-separated.")] = None,
    sector: Annotated[str | None, Query(description="Sector codes, comma-separated.")] = None,
    division: Annotated[str | None, Query(description="Division codes, comma-separated.")] = None,
    phase: Annotated[str | None, Query(description="MCOF phase codes, comma-separated.")] = None,
    crisis_id: QueryId = None,
) -> Totals:
    """People reached per country and year (the year of each period's end), from the latest
    revision of every sitrep that is not withdrawn.

    - `people_reached`: the sum of `people_reached_new`; a person counts once a year per
      sector and location. What a sector or cluster reports.
    - `people_reached_unique`: people reached by at least one sector, estimated by taking the
      largest sector at each location and adding up the locations. Never more than
      `people_reached`; equal to it when grouped by sector.
    - `people_reached_in_periods`: the sum of `people_reached`; repeat assistance counts
      again. Never add monthly figures up as a year's reach: use `people_reached`.

    Field officers get their own countries only."""
    query = totals.TotalsQuery(
        group_by=tuple(split_codes("group_by", group_by, allowed=totals.GROUPS) or ()),
        countries=country,
        years=_years(year),
        sectors=split_codes("sector", sector, allowed=SECTORS),
        divisions=split_codes("division", division, allowed=reference.DIVISIONS),
        phases=split_codes("phase", phase, allowed=reference.PHASES),
        crisis_id=crisis_id,
    )
    return totals.totals(session, query=query, user=user)

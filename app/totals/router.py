import orjson
from fastapi import APIRouter, Response

from app.auth.dependencies import CurrentUser
from app.db import SessionDep
from app.openapi import problem_responses
from app.totals import service as totals
from app.totals.dependencies import TotalsQueryDep
from app.totals.schemas import Totals

router = APIRouter(tags=["totals"])


@router.get(
    "/totals",
    response_model=Totals,
    responses=problem_responses(403),
)
def read_totals(session: SessionDep, user: CurrentUser, query: TotalsQueryDep) -> Response:
    """People reached per country and year (the year of each period's end), from the latest
    revision of every sitrep that is not withdrawn.

    - `people_reached`: the sum of `people_reached_new`; a person counts once a year per
      sector and location. What a sector or cluster reports.
    - `people_reached_unique`: people reached by at least one sector, estimated by taking the
      largest sector at each location and adding up the locations. Never more than
      `people_reached`; equal to it when grouped by sector.
    - `people_reached_in_periods`: the sum of `people_reached`; repeat assistance counts
      again. Never add monthly figures up as a year's reach: use `people_reached`.
    - `people_targeted`: the sum of yearly targets. A slot's target for the year is the one
      stated by its latest live period of that year that states one: monthly sitreps that
      restate a target of 5,000 mean 5,000, and a period silent on it does not erase it.
    - `people_targeted_unique`: at each location the largest sector's target, added up, as
      `people_reached_unique` does with reach.
    - A line may give `people_reached_cumulative` (year to date) instead of
      `people_reached_new`; it counts for its increase over the latest earlier period of
      its slot that year.

    Field officers get their own countries only."""
    # Written out as they are (totals.rows): FastAPI would build, dump and check a model
    # of each row again, for rows the service built itself.
    rows = totals.rows(session, query=query, user=user)
    return Response(orjson.dumps({"rows": rows}), media_type="application/json")

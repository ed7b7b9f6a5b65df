from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import CurrentUser
from app.db import SessionDep, utcnow
from app.http.parameters import QueryId
from app.openapi import problem_responses
from app.reference.dependencies import CountryList
from app.reporting import service as reporting
from app.reporting.schemas import Completeness, DoubleCounting

router = APIRouter(prefix="/reporting", tags=["reporting"])


@router.get("/completeness", response_model=Completeness, responses=problem_responses(403))
def read_completeness(
    session: SessionDep,
    user: CurrentUser,
    year: Annotated[
        int | None,
        Query(
            ge=1900,
            le=2200,
            description="The calendar year; by default the latest year with sitreps in your "
            "scope (the current year when there are none).",
        ),
    ] = None,
    country: CountryList = None,
    crisis_id: Annotated[
        QueryId,
        Query(description="Only this crisis's sitreps, and only its countries as offices."),
    ] = None,
    as_of: Annotated[
        date | None,
        Query(
            description="The day to judge from: months ending before it are due (default: today)."
        ),
    ] = None,
) -> Completeness:
    """Which country offices sent a sitrep for which month of a year, so that headquarters
    sees who is late.

    A country office is a country with at least one live sitrep, or a country of at least
    one crisis. For each office and month: the number of live (not withdrawn) sitreps whose
    period touches the month, and the month's state: `reported`; `missing` (none, and the
    month is over and not before the office started reporting: its first sitrep or the
    start of its earliest crisis); `not_due` (the month is not over); `not_expected`.

    Headquarters and administrators see every office; field officers their own countries
    (another country is a 403)."""
    query = reporting.CompletenessQuery(
        as_of=as_of or utcnow().date(),
        year=year,
        countries=country,
        crisis_id=crisis_id,
    )
    return reporting.completeness(session, query=query, user=user)


@router.get("/double-counting", response_model=DoubleCounting, responses=problem_responses(403))
def read_double_counting(
    session: SessionDep,
    user: CurrentUser,
    year: Annotated[
        int | None,
        Query(
            ge=1900,
            le=2200,
            description="The calendar year; by default the latest year with sitreps in your scope.",
        ),
    ] = None,
    country: CountryList = None,
) -> DoubleCounting:
    """Where a year's figure may count the same people twice, which the counting rules
    cannot see (DOMAIN.md, "Cumulative figures").

    Lists, per country, each slot and location (sector, division, phase, crisis, admin1,
    admin2) that reports two or more live sitreps in the year with `people_reached_new`
    equal to `people_reached` every time (or no new figure): each period may restate the
    same people as new. With the reach it carries in totals and its share of the country's
    `people_reached`. Lines giving `people_reached_cumulative` are never flagged.

    Headquarters and administrators see every country; field officers their own."""
    return reporting.double_counting(session, year=year, countries=country, user=user)

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from app.exports.service import LinesQuery
from app.http.parameters import QueryId
from app.reference.dependencies import CountryList
from app.totals.dependencies import DivisionList, PhaseList, SectorList, YearList


def _lines_query(
    country: CountryList = None,
    year: YearList = None,
    period_from: Annotated[
        date | None, Query(description="Lines whose period ends on or after this date.")
    ] = None,
    period_to: Annotated[
        date | None, Query(description="Lines whose period starts on or before this date.")
    ] = None,
    crisis_id: QueryId = None,
    sector: SectorList = None,
    division: DivisionList = None,
    phase: PhaseList = None,
) -> LinesQuery:
    return LinesQuery(
        countries=country,
        years=year,
        period_from=period_from,
        period_to=period_to,
        crisis_id=crisis_id,
        sectors=sector,
        divisions=division,
        phases=phase,
    )


LinesQueryDep = Annotated[LinesQuery, Depends(_lines_query)]

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from app.exports.service import LinesQuery
from app.http.parameters import QueryId
from app.reference import catalog as reference
from app.reference.dependencies import CountryList, split_codes
from app.sectors.catalog import SECTORS
from app.totals.dependencies import DivisionParam, PhaseParam, SectorParam, YearList


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
    sector: SectorParam = None,
    division: DivisionParam = None,
    phase: PhaseParam = None,
) -> LinesQuery:
    return LinesQuery(
        countries=country,
        years=year,
        period_from=period_from,
        period_to=period_to,
        crisis_id=crisis_id,
        sectors=split_codes("sector", sector, allowed=SECTORS),
        divisions=split_codes("division", division, allowed=reference.DIVISIONS),
        phases=split_codes("phase", phase, allowed=reference.PHASES),
    )


LinesQueryDep = Annotated[LinesQuery, Depends(_lines_query)]

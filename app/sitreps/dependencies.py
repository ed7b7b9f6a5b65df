"""The query parameters of GET /sitreps."""

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from app.http.parameters import QueryId
from app.reference.dependencies import CountryList
from app.sitreps.models import SitrepStatus
from app.sitreps.reads import SitrepFilters


def _sitrep_filters(
    country: CountryList = None,
    crisis_id: QueryId = None,
    period_from: Annotated[
        date | None, Query(description="Sitreps whose period ends on or after this date.")
    ] = None,
    period_to: Annotated[
        date | None, Query(description="Sitreps whose period starts on or before this date.")
    ] = None,
    status_: Annotated[SitrepStatus | None, Query(alias="status")] = None,
) -> SitrepFilters:
    return SitrepFilters(
        countries=country,
        crisis_id=crisis_id,
        period_from=period_from,
        period_to=period_to,
        status=status_,
    )


SitrepFiltersDep = Annotated[SitrepFilters, Depends(_sitrep_filters)]

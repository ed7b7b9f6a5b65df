from typing import Annotated

from fastapi import APIRouter, Query

from app import i18n
from app.auth.dependencies import CurrentUser
from app.openapi import problem_responses
from app.reference import catalog as reference
from app.reference.schemas import AdminAreaRead, CountryRead, DivisionRead, PhaseRead

router = APIRouter(tags=["reference"])


@router.get("/divisions", response_model=list[DivisionRead])
def list_divisions(_user: CurrentUser) -> list[DivisionRead]:
    """The three divisions of IOM's Department of Humanitarian Response and Recovery."""
    return [
        DivisionRead(code=d.code, name=d.name, description=d.description)
        for d in reference.DIVISIONS.values()
    ]


@router.get("/phases", response_model=list[PhaseRead])
def list_phases(_user: CurrentUser) -> list[PhaseRead]:
    """The phases of the Migration Crisis Operational Framework (MCOF)."""
    return [
        PhaseRead(code=p.code, name=p.name, description=p.description)
        for p in reference.PHASES.values()
    ]


@router.get("/countries", response_model=list[CountryRead])
def list_countries(_user: CurrentUser) -> list[CountryRead]:
    """Countries and territories, by ISO 3166-1 alpha-3 code, with their UN region; names
    follow `Accept-Language` (English, French or Spanish, OCHA's short names)."""
    language = i18n.text_language()
    return [
        CountryRead(
            code=c.code,
            name=c.name_in(language),
            region=c.region,
            admin1_count=len(reference.children_of(c.code)),
        )
        for c in reference.countries().values()
    ]


@router.get(
    "/countries/{code}/admin-areas",
    response_model=list[AdminAreaRead],
    responses=problem_responses(404),
)
def list_admin_areas(
    code: str,
    _user: CurrentUser,
    level: Annotated[
        reference.AdminLevel | None,
        Query(
            description="`1`: the admin1 areas (what no `level` gives too); `2`: every admin2 "
            "area of the country; `all`: every admin1 then every admin2, for a form that "
            "works offline."
        ),
    ] = None,
    parent: Annotated[
        str | None,
        Query(description="An admin1 p-code: its admin2 areas. Alone or with `level=2`."),
    ] = None,
) -> list[AdminAreaRead]:
    """The admin areas (OCHA p-codes) of a country: its admin1 areas; with
    `parent=<admin1 p-code>` the admin2 areas of one; with `level=2` all its admin2 areas;
    with `level=all` every admin1 area then every admin2 area in one answer. Each level is
    ordered by p-code; `parent` is the country's ISO3 code for an admin1 area, the admin1
    p-code for an admin2 area."""
    return [
        AdminAreaRead(code=a.code, name=a.name, level=a.level, parent=a.parent)
        for a in reference.admin_areas_of(code, level=level, parent=parent)
    ]

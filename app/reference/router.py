from fastapi import APIRouter

from app.auth.dependencies import CurrentUser
from app.errors import problem_responses
from app.reference import service as reference
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
    """Countries and territories, by ISO 3166-1 alpha-3 code, with their UN region."""
    return [
        CountryRead(
            code=c.code,
            name=c.name,
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
    code: str, _user: CurrentUser, parent: str | None = None
) -> list[AdminAreaRead]:
    """The admin1 p-codes of a country, or with `parent=<admin1 p-code>` its admin2 p-codes."""
    return [
        AdminAreaRead(code=a.code, name=a.name, level=a.level, parent=a.parent)
        for a in reference.admin_areas_of(code, parent=parent)
    ]

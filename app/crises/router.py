from fastapi import APIRouter, Response, status

from app.auth.dependencies import CurrentUser
from app.crises import service as crises
from app.crises.models import CrisisKind
from app.crises.schemas import CrisisCreate, CrisisRead
from app.db import SessionDep
from app.http.parameters import PathId
from app.idempotency.dependencies import IdempotencyDep
from app.openapi import problem_responses
from app.pagination import Page, PageDep, page_example
from app.reference.dependencies import CountryList

router = APIRouter(prefix="/crises", tags=["crises"])


@router.post(
    "",
    response_model=CrisisRead,
    status_code=status.HTTP_201_CREATED,
    # 400: a malformed Idempotency-Key; 409: a retry while the first is in flight.
    responses=problem_responses(400, 403, 409),
)
def create_crisis(
    idempotency: IdempotencyDep, data: CrisisCreate, session: SessionDep, user: CurrentUser
) -> Response:
    """Register a crisis (an emergency or operation) that sitreps can then report under.
    Headquarters and administrators only."""
    crisis = crises.create(session, data=data, user=user)
    return idempotency.respond(
        session,
        crises.read(crisis),
        status_code=status.HTTP_201_CREATED,
        headers={"Location": f"/api/v1/crises/{crisis.id}"},
    )


@router.get(
    "",
    response_model=Page[CrisisRead],
    responses={**problem_responses(400), **page_example(CrisisRead)},
)
def list_crises(
    session: SessionDep,
    _user: CurrentUser,
    page: PageDep,
    country: CountryList = None,
    kind: CrisisKind | None = None,
) -> Page[CrisisRead]:
    """Crises, newest first, optionally those in given countries or of one kind."""
    return crises.list_page(
        session,
        limit=page.limit,
        cursor=page.cursor,
        countries=country,
        kind=kind,
    )


@router.get("/{crisis_id}", response_model=CrisisRead, responses=problem_responses(404))
def read_crisis(crisis_id: PathId, session: SessionDep, _user: CurrentUser) -> CrisisRead:
    """One crisis."""
    return crises.read(crises.get(session, crisis_id=crisis_id))

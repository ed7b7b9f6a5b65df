from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response, status
from sqlalchemy.orm import Session

from app.auth.dependencies import CurrentUser
from app.auth.models import User
from app.db import SessionDep
from app.errors import PreconditionFailed
from app.http.parameters import PathId
from app.i18n import _
from app.idempotency.dependencies import Idempotency, IdempotencyDep
from app.openapi import problem_responses
from app.pagination import Page, PageDep, page_example
from app.sitreps import batches, bodies, reads
from app.sitreps import service as sitreps
from app.sitreps.dependencies import SitrepFiltersDep
from app.sitreps.models import Sitrep
from app.sitreps.schemas import (
    BatchRead,
    SitrepBatch,
    SitrepDocument,
    SitrepRead,
    SitrepRevisionRead,
    SitrepWithdraw,
)

router = APIRouter(prefix="/sitreps", tags=["sitreps"], responses=problem_responses(403))


def _if_match(
    if_match: Annotated[
        str | None,
        Header(
            description="The ETag of the revision you are changing (from a GET of the sitrep), "
            "as it was sent: If-Match compares strongly, so a weak tag (W/...) never matches."
        ),
    ] = None,
) -> str | None:
    """If-Match as sent; a 412 that says why when it offers only weak entity tags, which
    never match under the strong comparison If-Match uses (RFC 9110 §13.1.1)."""
    tags = [tag.strip() for tag in (if_match or "").split(",") if tag.strip()]
    if tags and all(tag.startswith("W/") for tag in tags):
        raise PreconditionFailed(
            _(
                "If-Match compares entity tags strongly (RFC 9110 §13.1.1), so a weak tag "
                "such as {tag} never matches, even when its value is the current one. Send "
                "the ETag exactly as the sitrep's GET answered it, without W/ (a proxy that "
                "compresses answers may have weakened it): {strong}.",
                tag=tags[0],
                strong=tags[0].removeprefix("W/"),
            )
        )
    return if_match


IfMatch = Annotated[str | None, Depends(_if_match)]


def _answer(
    idempotency: Idempotency, session: Session, sitrep: Sitrep, user: User, *, created: bool
) -> Response:
    headers = {"ETag": reads.etag(sitrep)}
    if created:
        headers["Location"] = f"/api/v1/sitreps/{sitrep.id}"
    return idempotency.respond(
        session,
        reads.read_after_write(session, sitrep=sitrep, user=user),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        headers=headers,
    )


@router.post(
    "",
    response_model=SitrepRead,
    status_code=status.HTTP_201_CREATED,
    # 400: a malformed Idempotency-Key; 409: the slot is taken, or a retry while the first is
    # in flight.
    responses=problem_responses(400, 409),
)
def submit_sitrep(
    idempotency: IdempotencyDep, document: SitrepDocument, session: SessionDep, user: CurrentUser
) -> Response:
    """Submit a situation report for one country, at most one crisis and one period.

    Field officers submit for their own countries. Every line is checked (p-codes of the
    country, people_reached_new ≤ people_reached, disaggregation adding up, indicators of
    the line's sector); all problems come back at once as a 422 whose `errors` point at each
    line and field. A slot (crisis, country, sector, division, phase, admin1, admin2) already
    reported by another live sitrep for an overlapping period is a 409 naming that sitrep:
    amend it instead."""
    data = bodies.validated(document, session=session)
    sitrep = sitreps.submit(session, data=data, user=user)
    return _answer(idempotency, session, sitrep, user, created=True)


@router.post("/batch", response_model=BatchRead, responses=problem_responses(400, 409))
def submit_batch(
    idempotency: IdempotencyDep, data: SitrepBatch, session: SessionDep, user: CurrentUser
) -> Response:
    """Submit many sitreps in one request (at most 500 by default), for offices catching up
    on a backlog over a poor connection.

    Each sitrep is accepted or refused on its own, and written whole or not at all; the
    answer is 200 with one result per sitrep, in order: `status` 201 and the `sitrep`, or
    the problem's `status` and `problem` (422 problems point into the batch, e.g.
    `["body", "sitreps", 3, "lines", 0, "admin1"]`). With an `Idempotency-Key` the whole
    batch is retried safely."""
    result = batches.submit_batch(session, items=data.sitreps, user=user)
    return idempotency.respond(session, result, status_code=status.HTTP_200_OK)


@router.get(
    "",
    response_model=Page[SitrepRead],
    responses={**problem_responses(400), **page_example(SitrepRead)},
)
def list_sitreps(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    filters: SitrepFiltersDep,
) -> Page[SitrepRead]:
    """Sitreps, newest first, each as its latest revision. Field officers see their own
    countries only."""
    return reads.list_page(
        session, filters=filters, limit=page.limit, cursor=page.cursor, user=user
    )


@router.get("/{sitrep_id}", response_model=SitrepRead, responses=problem_responses(404))
def read_sitrep(
    sitrep_id: PathId, session: SessionDep, user: CurrentUser, response: Response
) -> SitrepRead:
    """A sitrep as its latest revision. The `ETag` header is what `If-Match` needs to amend
    or withdraw it."""
    sitrep, read = reads.get(session, sitrep_id=sitrep_id, user=user)
    response.headers["ETag"] = reads.etag(sitrep)
    return read


@router.put(
    "/{sitrep_id}",
    response_model=SitrepRead,
    responses=problem_responses(400, 404, 409, 412, 428),
)
def amend_sitrep(
    idempotency: IdempotencyDep,
    sitrep_id: PathId,
    document: SitrepDocument,
    session: SessionDep,
    user: CurrentUser,
    if_match: IfMatch,
) -> Response:
    """Amend a sitrep: the body replaces it whole and becomes a new revision; earlier
    revisions stay readable. `If-Match` is required (428 without it, 412 when the sitrep has
    changed since you read it). A line that keeps its sector, division, phase and location
    keeps its id. The body may be the sitrep as GET answers it, edited: its read-only
    fields (`id`, `revision`, `status`, `created_at`, `withdrawn_at`, `withdrawal_reason`,
    `submitted_by`, `submitted_at`, each line's `id`) are accepted when they hold the
    sitrep's current values, and refused with one error naming them otherwise."""
    data = bodies.replacement(
        session, sitrep_id=sitrep_id, document=document, if_match=if_match, user=user
    )
    sitrep = sitreps.amend(session, sitrep_id=sitrep_id, data=data, if_match=if_match, user=user)
    return _answer(idempotency, session, sitrep, user, created=False)


@router.delete(
    "/{sitrep_id}",
    response_model=SitrepRead,
    responses=problem_responses(400, 404, 409, 412, 428),
)
def withdraw_sitrep(
    idempotency: IdempotencyDep,
    sitrep_id: PathId,
    data: SitrepWithdraw,
    session: SessionDep,
    user: CurrentUser,
    if_match: IfMatch,
) -> Response:
    """Withdraw a sitrep, giving a reason: it leaves totals and feeds, and its history
    stays readable. `If-Match` is required."""
    sitrep = sitreps.withdraw(
        session, sitrep_id=sitrep_id, reason=data.reason, if_match=if_match, user=user
    )
    return _answer(idempotency, session, sitrep, user, created=False)


@router.get(
    "/{sitrep_id}/revisions",
    response_model=Page[SitrepRevisionRead],
    responses={**problem_responses(400, 404), **page_example(SitrepRevisionRead)},
)
def list_revisions(
    sitrep_id: PathId, session: SessionDep, user: CurrentUser, page: PageDep
) -> Page[SitrepRevisionRead]:
    """Every revision of a sitrep, oldest first, exactly as each was accepted."""
    return reads.revisions_page(
        session, sitrep_id=sitrep_id, limit=page.limit, cursor=page.cursor, user=user
    )

from fastapi import APIRouter

from app.audit import service as audit
from app.audit.dependencies import AuditFiltersDep
from app.audit.schemas import AuditEventRead
from app.auth.dependencies import CurrentUser
from app.db import SessionDep
from app.openapi import problem_responses
from app.pagination import Page, PageDep, page_example

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get(
    "",
    response_model=Page[AuditEventRead],
    responses={**problem_responses(400, 403), **page_example(AuditEventRead)},
)
def list_audit_events(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    filters: AuditFiltersDep,
) -> Page[AuditEventRead]:
    """Every write, newest first: who did what and when, the values before and after, and
    the id of the request (its X-Request-ID). Headquarters and administrators only. The
    trail is read-only: no endpoint changes or deletes an event."""
    return audit.list_page(
        session, filters=filters, limit=page.limit, cursor=page.cursor, user=user
    )

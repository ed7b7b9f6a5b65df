from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import service as audit
from app.audit.schemas import AuditEventRead, EntityType, FilterText, FilterTime
from app.auth.dependencies import CurrentUser
from app.db import QueryId, SessionDep
from app.errors import problem_responses
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
    entity_type: EntityType | None = None,
    entity_id: QueryId = None,
    actor: Annotated[FilterText, Query(max_length=100, description="A user name.")] = None,
    action: Annotated[
        FilterText, Query(max_length=40, description="e.g. sitrep.submit, sitrep.amend.")
    ] = None,
    since: Annotated[
        FilterTime, Query(description="Events at or after this time (with offset).")
    ] = None,
    until: Annotated[
        FilterTime, Query(description="Events before this time (with offset).")
    ] = None,
    request_id: Annotated[FilterText, Query(max_length=128)] = None,
) -> Page[AuditEventRead]:
    """Every write, newest first: who did what and when, the values before and after, and
    the id of the request (its X-Request-ID). Headquarters and administrators only. The
    trail is read-only: no endpoint changes or deletes an event."""
    filters = audit.AuditFilters(
        entity_type=entity_type,
        entity_id=entity_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
        request_id=request_id,
    )
    return audit.list_page(
        session, filters=filters, limit=page.limit, cursor=page.cursor, user=user
    )

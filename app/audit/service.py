"""The audit trail: every write, recorded in the transaction that makes it."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.audit.schemas import Action, AuditEventRead, EntityType
from app.auth import permissions
from app.auth.models import Role, User
from app.db import utcnow
from app.http.requests import request_id
from app.pagination import Page, keyset_page

COMMAND_LINE = "command line"


def record(
    session: Session,
    *,
    action: Action,
    entity_type: EntityType,
    entity_id: int | None,
    user: User | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Adds an audit event to the session: it commits, or rolls back, with the write."""
    session.add(
        event(
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            user=user,
            before=before,
            after=after,
        )
    )


def event(
    *,
    action: Action,
    entity_type: EntityType,
    entity_id: int | None,
    user: User | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """An audit event of this request, for the caller to add with the write (``record``
    adds it at once)."""
    return AuditEvent(
        occurred_at=utcnow(),
        user_id=user.id if user else None,
        actor=user.name if user else COMMAND_LINE,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        request_id=request_id.get(),
        before=before,
        after=after,
    )


@dataclass(frozen=True, slots=True)
class AuditFilters:
    entity_type: str | None = None
    entity_id: int | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    request_id: str | None = None


def list_page(
    session: Session, *, filters: AuditFilters, limit: int, cursor: str | None, user: User
) -> Page[AuditEventRead]:
    """Audit events, newest first."""
    permissions.require_role(user, Role.hq, Role.admin)
    query = select(AuditEvent)
    if filters.entity_type is not None:
        query = query.where(AuditEvent.entity_type == filters.entity_type)
    if filters.entity_id is not None:
        query = query.where(AuditEvent.entity_id == filters.entity_id)
    if filters.actor is not None:
        query = query.where(AuditEvent.actor == filters.actor)
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since is not None:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.occurred_at < filters.until)
    if filters.request_id is not None:
        query = query.where(AuditEvent.request_id == filters.request_id)
    events, next_cursor = keyset_page(
        query,
        lambda q: list(session.scalars(q)),
        column=AuditEvent.id,
        key=lambda e: e.id,
        kind="audit",
        cursor=cursor,
        limit=limit,
    )
    return Page(
        items=[AuditEventRead.model_validate(e, from_attributes=True) for e in events],
        next_cursor=next_cursor,
    )

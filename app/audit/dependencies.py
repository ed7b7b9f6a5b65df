"""The query parameters of GET /audit."""

from typing import Annotated

from fastapi import Depends, Query

from app.audit.schemas import EntityType, FilterText, FilterTime
from app.audit.service import AuditFilters
from app.http.parameters import QueryId


def _audit_filters(
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
) -> AuditFilters:
    return AuditFilters(
        entity_type=entity_type,
        entity_id=entity_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
        request_id=request_id,
    )


AuditFiltersDep = Annotated[AuditFilters, Depends(_audit_filters)]

"""Sitreps as they are read: one, a page of them, a sitrep's revisions, and the live
sitreps of a period (an import's amendments), each within the reader's countries.

A revision keeps its lines as they were written; what a cumulative line counts for now
comes from the line itself (``_current_new``), because an amendment or withdrawal of an
earlier period changes it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session, aliased

from app.auth import permissions
from app.auth.models import Role, User
from app.errors import NotFound
from app.i18n import N_, _
from app.pagination import Page, keyset_page
from app.sitreps.models import LIVE_LINE, Sitrep, SitrepLine, SitrepRevision, SitrepStatus
from app.sitreps.schemas import LineRead, SitrepRead, SitrepRevisionRead


@dataclass(frozen=True, slots=True)
class SitrepFilters:
    countries: list[str] | None = None
    crisis_id: int | None = None
    period_from: date | None = None
    period_to: date | None = None
    status: SitrepStatus | None = None


_STATUS_WORDS = {SitrepStatus.submitted: N_("submitted"), SitrepStatus.withdrawn: N_("withdrawn")}


def status_word(status: str) -> str:
    return _(_STATUS_WORDS[SitrepStatus(status)])


def etag(sitrep: Sitrep) -> str:
    return f'"{sitrep.id}-{sitrep.revision}-{sitrep.status}"'


def live_for_period(
    session: Session, *, country: str, crisis_id: int | None, period_start: date, period_end: date
) -> list[tuple[Sitrep, list[SitrepLine], str | None]]:
    """The live sitreps of a country and crisis for exactly this period, oldest first, each
    with its live lines and the narrative of its latest revision."""
    found = session.execute(
        _current_query()
        .where(
            Sitrep.status == SitrepStatus.submitted.value,
            Sitrep.country == country,
            Sitrep.crisis_id.is_(None) if crisis_id is None else Sitrep.crisis_id == crisis_id,
            Sitrep.period_start == period_start,
            Sitrep.period_end == period_end,
        )
        .order_by(Sitrep.id)
    ).all()
    if not found:
        return []
    lines: dict[int, list[SitrepLine]] = {sitrep.id: [] for sitrep, _, _ in found}
    for line in session.scalars(
        select(SitrepLine)
        .where(SitrepLine.sitrep_id.in_(list(lines)), LIVE_LINE)
        .order_by(SitrepLine.id)
    ):
        lines[line.sitrep_id].append(line)
    return [(sitrep, lines[sitrep.id], revision.narrative) for sitrep, revision, _ in found]


def _require_reader(user: User) -> None:
    permissions.require_role(user, Role.field, Role.hq, Role.admin)


def require_in_scope(user: User, sitrep: Sitrep) -> None:
    """A sitrep outside the user's countries answers as a missing one does (API.md), so
    that its id tells nothing."""
    scope = permissions.country_scope(user)
    if scope is not None and sitrep.country not in scope:
        raise NotFound(_("There is no sitrep {sitrep_id}.", sitrep_id=sitrep.id))


def _current_query() -> Select[Sitrep, SitrepRevision, str]:
    submitter = aliased(User)
    return (
        select(Sitrep, SitrepRevision, submitter.name)
        .join(
            SitrepRevision,
            and_(SitrepRevision.sitrep_id == Sitrep.id, SitrepRevision.revision == Sitrep.revision),
        )
        .join(submitter, submitter.id == SitrepRevision.submitted_by_id)
    )


def get(session: Session, *, sitrep_id: int, user: User) -> tuple[Sitrep, SitrepRead]:
    _require_reader(user)
    row = session.execute(_current_query().where(Sitrep.id == sitrep_id)).first()
    if row is None:
        raise NotFound(_("There is no sitrep {sitrep_id}.", sitrep_id=sitrep_id))
    sitrep, revision, submitted_by = row
    require_in_scope(user, sitrep)
    return sitrep, read(sitrep, revision, submitted_by, _current_new(session, [revision]))


def list_page(
    session: Session, *, filters: SitrepFilters, limit: int, cursor: str | None, user: User
) -> Page[SitrepRead]:
    """Sitreps, newest first."""
    permissions.require_role(user, Role.field, Role.hq, Role.admin)
    countries = permissions.narrow_countries(user, filters.countries)
    query = _current_query()
    if countries is not None:
        query = query.where(Sitrep.country.in_(countries))
    if filters.crisis_id is not None:
        query = query.where(Sitrep.crisis_id == filters.crisis_id)
    if filters.period_from is not None:
        query = query.where(Sitrep.period_end >= filters.period_from)
    if filters.period_to is not None:
        query = query.where(Sitrep.period_start <= filters.period_to)
    if filters.status is not None:
        query = query.where(Sitrep.status == filters.status)
    rows, next_cursor = keyset_page(
        query,
        lambda q: session.execute(q).all(),
        column=Sitrep.id,
        key=lambda row: row[0].id,
        kind="sitreps",
        cursor=cursor,
        limit=limit,
    )
    current = _current_new(session, [revision for _sitrep, revision, _name in rows])
    return Page(
        items=[read(sitrep, revision, name, current) for sitrep, revision, name in rows],
        next_cursor=next_cursor,
    )


def revisions_page(
    session: Session, *, sitrep_id: int, limit: int, cursor: str | None, user: User
) -> Page[SitrepRevisionRead]:
    _require_reader(user)
    sitrep = session.get(Sitrep, sitrep_id)
    if sitrep is None:
        raise NotFound(_("There is no sitrep {sitrep_id}.", sitrep_id=sitrep_id))
    require_in_scope(user, sitrep)
    submitter = aliased(User)
    query = (
        select(SitrepRevision, submitter.name)
        .join(submitter, submitter.id == SitrepRevision.submitted_by_id)
        .where(SitrepRevision.sitrep_id == sitrep_id)
    )
    rows, next_cursor = keyset_page(
        query,
        lambda q: session.execute(q).all(),
        column=SitrepRevision.revision,
        key=lambda row: row[0].revision,
        kind="revisions",
        cursor=cursor,
        limit=limit,
        descending=False,
    )
    current = _current_new(session, [r for r, _name in rows if r.revision == sitrep.revision])
    return Page(
        items=[_revision_read(revision, name, current) for revision, name in rows],
        next_cursor=next_cursor,
    )


def _current_new(session: Session, revisions: Iterable[SitrepRevision]) -> dict[int, int]:
    """The people_reached_new that the cumulative lines of these current revisions count for
    now, by line id: a revision keeps the figure of its own time, and an amendment or
    withdrawal of an earlier period changes what a cumulative figure stands for."""
    ids = [
        line["id"]
        for revision in revisions
        for line in revision.lines
        if line.get("people_reached_cumulative") is not None
    ]
    if not ids:
        return {}
    query = select(SitrepLine.id, SitrepLine.people_reached_new).where(SitrepLine.id.in_(ids))
    return {line_id: new for line_id, new in session.execute(query)}


def _revision_fields(
    revision: SitrepRevision, submitted_by: str, current: dict[int, int]
) -> dict[str, Any]:
    return {
        "revision": revision.revision,
        "country": revision.country,
        "crisis_id": revision.crisis_id,
        "period_start": revision.period_start,
        "period_end": revision.period_end,
        "narrative": revision.narrative,
        "lines": [
            LineRead.model_validate(
                {**line, "people_reached_new": current[line["id"]]}
                if line["id"] in current
                else line
            )
            for line in revision.lines
        ],
        "submitted_by": submitted_by,
        "submitted_at": revision.submitted_at,
    }


def _revision_read(
    revision: SitrepRevision, submitted_by: str, current: dict[int, int]
) -> SitrepRevisionRead:
    return SitrepRevisionRead(**_revision_fields(revision, submitted_by, current))


def read(
    sitrep: Sitrep, revision: SitrepRevision, submitted_by: str, current: dict[int, int]
) -> SitrepRead:
    return SitrepRead(
        **_revision_fields(revision, submitted_by, current),
        id=sitrep.id,
        status=SitrepStatus(sitrep.status),
        created_at=sitrep.created_at,
        withdrawn_at=sitrep.withdrawn_at,
        withdrawal_reason=sitrep.withdrawal_reason,
    )


def read_after_write(session: Session, *, sitrep: Sitrep, user: User) -> SitrepRead:
    return get(session, sitrep_id=sitrep.id, user=user)[1]

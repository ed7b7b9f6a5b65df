from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.audit import service as audit
from app.auth import permissions
from app.auth.models import Role, User
from app.crises.models import Crisis, CrisisCountry, CrisisKind
from app.crises.schemas import CrisisCreate, CrisisRead
from app.db import utcnow
from app.errors import Conflict, NotFound, ValidationFailed
from app.i18n import _
from app.pagination import Page, keyset_page
from app.reference import catalog as reference


def create(session: Session, *, data: CrisisCreate, user: User) -> Crisis:
    permissions.require_role(user, Role.hq, Role.admin)
    problems: list[tuple[tuple[str | int, ...], str]] = [
        (("body", "countries", i), _("{code} is not an ISO 3166-1 alpha-3 country code", code=code))
        for i, code in enumerate(data.countries)
        if not reference.is_country(code)
    ]
    if len(set(data.countries)) != len(data.countries):
        problems.append((("body", "countries"), _("a country is listed twice")))
    if data.started_on > utcnow().date():
        problems.append((("body", "started_on"), _("a crisis cannot start in the future")))
    if problems:
        raise ValidationFailed(problems)
    if data.glide is not None:
        holder = session.scalar(select(Crisis.id).where(Crisis.glide == data.glide))
        if holder is not None:
            raise Conflict(_glide_taken(data.glide, holder), crisis_id=holder)
    crisis = Crisis(
        name=data.name,
        kind=data.kind.value,
        started_on=data.started_on,
        glide=data.glide,
        scale_up=data.scale_up,
        created_at=utcnow(),
        created_by_id=user.id,
        countries=[CrisisCountry(country=c) for c in sorted(data.countries)],
    )
    try:
        # The check above answers the common case; this catches a concurrent registration
        # of the same GLIDE number, which READ COMMITTED lets through the check.
        with session.begin_nested():
            session.add(crisis)
            session.flush()
    except IntegrityError:
        holder = session.scalar(select(Crisis.id).where(Crisis.glide == data.glide))
        raise Conflict(_glide_taken(data.glide, holder), crisis_id=holder) from None
    audit.record(
        session,
        action="crisis.create",
        entity_type="crisis",
        entity_id=crisis.id,
        user=user,
        after=read(crisis).model_dump(mode="json"),
    )
    return crisis


def get(session: Session, *, crisis_id: int) -> Crisis:
    crisis = find(session, crisis_id=crisis_id)
    if crisis is None:
        raise NotFound(_("There is no crisis {crisis_id}.", crisis_id=crisis_id))
    return crisis


def find(session: Session, *, crisis_id: int) -> Crisis | None:
    # From the session's identity map when this request has loaded it already: a batch of
    # sitreps of one crisis looks it up once, not once per sitrep.
    crisis = session.get(Crisis, crisis_id, options=[selectinload(Crisis.countries)])
    if crisis is not None and "countries" in inspect(crisis).unloaded:
        session.refresh(crisis, ["countries"])  # loaded earlier without its countries
    return crisis


def list_page(
    session: Session,
    *,
    limit: int,
    cursor: str | None,
    countries: list[str] | None = None,
    kind: CrisisKind | None = None,
) -> Page[CrisisRead]:
    """Crises, newest first."""
    query = select(Crisis).options(selectinload(Crisis.countries))
    if countries is not None:
        query = query.where(
            Crisis.id.in_(
                select(CrisisCountry.crisis_id).where(CrisisCountry.country.in_(countries))
            )
        )
    if kind is not None:
        query = query.where(Crisis.kind == kind.value)
    crises, next_cursor = keyset_page(
        query,
        lambda q: list(session.scalars(q)),
        column=Crisis.id,
        key=lambda c: c.id,
        kind="crises",
        cursor=cursor,
        limit=limit,
    )
    return Page(items=[read(c) for c in crises], next_cursor=next_cursor)


def read(crisis: Crisis) -> CrisisRead:
    return CrisisRead(
        id=crisis.id,
        name=crisis.name,
        kind=CrisisKind(crisis.kind),
        countries=[c.country for c in crisis.countries],
        started_on=crisis.started_on,
        glide=crisis.glide,
        scale_up=crisis.scale_up,
        created_at=crisis.created_at,
    )


def _glide_taken(glide: str | None, holder: int | None) -> str:
    return _("GLIDE {glide} is already registered as crisis {holder}.", glide=glide, holder=holder)

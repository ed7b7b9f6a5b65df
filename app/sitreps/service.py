"""Sitreps: submission, amendment and withdrawal, with every rule of DOMAIN.md.

Every write locks the slots it touches first (``order.lock_slots``; an amendment or a
withdrawal locks its sitrep before that), then checks the one-sitrep-per-slot rule, then
writes the sitrep, its new revision and its lines, and flushes; the request commits.
Holding the slots' locks until commit makes the slot check and the chains race-free while
writes to other slots go on in parallel (app.sitreps.order says how, and why).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, cast

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session, aliased

from app.audit import service as audit
from app.auth import permissions
from app.auth.models import Role, User
from app.crises import service as crises
from app.db import utcnow
from app.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
    validation_problems,
)
from app.http import metrics
from app.i18n import N_, _
from app.pagination import Page, keyset_page
from app.reference import catalog as reference
from app.sitreps import order, rules
from app.sitreps.models import (
    LIVE_LINE,
    Sitrep,
    SitrepLine,
    SitrepRevision,
    SitrepStatus,
)
from app.sitreps.rules import Loc, line_key
from app.sitreps.schemas import (
    LineIn,
    LineRead,
    SitrepCreate,
    SitrepRead,
    SitrepRevisionRead,
)
from app.totals import chains, summaries


@dataclass(frozen=True, slots=True)
class SitrepFilters:
    countries: list[str] | None = None
    crisis_id: int | None = None
    period_from: date | None = None
    period_to: date | None = None
    status: SitrepStatus | None = None


# A sitrep's status, as a message names it.
_STATUS_WORDS = {SitrepStatus.submitted: N_("submitted"), SitrepStatus.withdrawn: N_("withdrawn")}


def _status_word(status: str) -> str:
    return _(_STATUS_WORDS[SitrepStatus(status)])


def etag(sitrep: Sitrep) -> str:
    return f'"{sitrep.id}-{sitrep.revision}-{sitrep.status}"'


# --- writes ----------------------------------------------------------------------------


def _slots(data: SitrepCreate) -> list[tuple[str, str]]:
    return [(data.country, line_key(line)) for line in data.lines]


def lock_slots_of(
    session: Session, documents: Iterable[Any], *, with_their_sitreps: bool = False
) -> None:
    """Locks, at once, the slots of every sitrep document (as POST /api/v1/sitreps takes
    it) that a batch or an import is about to write, so that its sitreps, written one by
    one, never wait for another writer while holding some of their slots. Documents that
    are not valid are left out: they will be refused before they lock anything.

    ``with_their_sitreps`` (an import that may amend): first the live sitreps of the
    documents' countries, crises and periods, the ones it may amend, in id order, then
    their slots with the documents' ones: the order an amendment takes them in (its sitrep,
    then its slots), so that the import and an amendment never hold one each."""
    read: list[SitrepCreate] = []
    for document in documents:
        try:
            read.append(validated(document))
        except ValidationFailed:
            continue
    slots = [slot for data in read for slot in _slots(data)]
    if with_their_sitreps and read:
        periods = {(d.country, d.crisis_id, d.period_start, d.period_end) for d in read}
        for sitrep in session.scalars(
            select(Sitrep)
            .where(
                Sitrep.status == SitrepStatus.submitted.value,
                Sitrep.country.in_(sorted({p[0] for p in periods})),
                Sitrep.period_start.in_(sorted({p[2] for p in periods})),
            )
            .order_by(Sitrep.id)
            .with_for_update()
        ):
            if (sitrep.country, sitrep.crisis_id, sitrep.period_start, sitrep.period_end) in (
                periods
            ):
                slots += _live_slots(session, sitrep)
    order.lock_slots(session, slots)


def new_sitrep(data: SitrepCreate, *, user: User, now: datetime) -> Sitrep:
    """A new sitrep's row (its first revision is written with its lines)."""
    return Sitrep(
        country=data.country,
        crisis_id=data.crisis_id,
        period_start=data.period_start,
        period_end=data.period_end,
        revision=1,
        status=SitrepStatus.submitted.value,
        created_at=now,
        created_by_id=user.id,
    )


def submit(session: Session, *, data: SitrepCreate, user: User) -> Sitrep:
    permissions.require_role(user, Role.field, Role.admin)
    if reference.is_country(data.country):
        permissions.require_country(user, data.country)
    lines = _checked_lines(session, data)
    order.lock_slots(session, _slots(data))
    _check_slots(session, data, sitrep_id=None)
    sitrep = new_sitrep(data, user=user, now=utcnow())
    session.add(sitrep)
    session.flush()
    revision = _write_revision(
        session, sitrep=sitrep, data=data, lines=lines, existing={}, user=user
    )
    audit.record(
        session,
        action="sitrep.submit",
        entity_type="sitrep",
        entity_id=sitrep.id,
        user=user,
        after=revision_document(revision),
    )
    metrics.count_sitrep(session, "submitted")
    return sitrep


def validated(item: Any, *, session: Session | None = None) -> SitrepCreate:
    """A sitrep document (as POST /api/v1/sitreps takes it) read, or a ValidationFailed
    with every problem located in the body. With a ``session``, a document the schema
    refuses is checked against the rules too, as far as it can be read (the fields and
    lines that passed), so that one 422 lists the problems of both."""
    try:
        return SitrepCreate.model_validate(item)
    except PydanticValidationError as exc:
        errors = exc.errors()
    problems = validation_problems([{**e, "loc": ("body", *e["loc"])} for e in errors])
    if session is not None and isinstance(item, dict):
        problems += _rule_problems(session, rules.readable(item, errors))
    raise ValidationFailed(problems)


# The fields of a GET of a sitrep that a PUT does not set, and those of each line.
READ_ONLY_FIELDS = tuple(
    name for name in SitrepRead.model_fields if name not in SitrepCreate.model_fields
)
_READ_ONLY_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(
        cast(
            Any, Annotated[SitrepRead.model_fields[name].annotation, SitrepRead.model_fields[name]]
        )
    )
    for name in READ_ONLY_FIELDS
}


def replacement(
    session: Session, *, sitrep_id: int, document: dict[str, Any], if_match: str | None, user: User
) -> SitrepCreate:
    """A PUT body as the sitrep it replaces the current one with. It may be a GET of the
    sitrep, edited: its read-only fields (``id``, ``revision``, ``status``, ...,
    ``submitted_at``, each line's ``id``) are left out when they equal the sitrep's current
    values, and make one problem naming them otherwise. Against an If-Match that names an
    older revision they are not compared: the amendment answers that with its 412."""
    sitrep, current = get(session, sitrep_id=sitrep_id, user=user)
    offered = {tag.strip() for tag in (if_match or "").split(",")}
    compare = "*" in offered or etag(sitrep) in offered
    document, differing = _without_read_only(document, current)
    problems: list[tuple[Loc, str]] = []
    if compare and differing:
        # One problem: at the field when there is one, at the body when there are several.
        where: Loc = ("body", *differing[0]) if len(differing) == 1 else ("body",)
        problems.append(
            (
                where,
                _(
                    "{fields}: read-only, and not as sitrep {sitrep_id} has them now; leave "
                    "them out, or send them as its GET answers them",
                    fields=", ".join(".".join(str(part) for part in loc) for loc in differing),
                    sitrep_id=sitrep_id,
                ),
            )
        )
    try:
        data = validated(document, session=session)
    except ValidationFailed as exc:
        raise ValidationFailed([*problems, *_located(exc)]) from None
    if problems:
        raise ValidationFailed([*problems, *_rule_problems(session, rules.Checkable.of(data))])
    return data


def _located(exc: ValidationFailed) -> list[tuple[Loc, str]]:
    return [(tuple(error["loc"]), error["msg"]) for error in exc.extensions["errors"]]


def _without_read_only(
    document: dict[str, Any], current: SitrepRead
) -> tuple[dict[str, Any], list[Loc]]:
    """The document without the read-only fields of a GET, and where those whose value is
    not the current one are."""
    differing: list[Loc] = []
    kept = {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS}
    for name in READ_ONLY_FIELDS:
        if name in document and not _same(
            _READ_ONLY_ADAPTERS[name], document[name], getattr(current, name)
        ):
            differing.append((name,))
    raw_lines = document.get("lines")
    if isinstance(raw_lines, list):
        by_id = {line.id: line for line in current.lines}
        kept["lines"] = []
        for i, raw in enumerate(raw_lines):
            if isinstance(raw, dict) and "id" in raw:
                raw, same = _line_without_id(raw, by_id)
                if not same:
                    differing.append(("lines", i, "id"))
            kept["lines"].append(raw)
    return kept, differing


def _line_without_id(
    raw: dict[str, Any], current: dict[int, LineRead]
) -> tuple[dict[str, Any], bool]:
    """A line of a PUT body that names a line id, without it; and whether it names a
    current line of the same slot (the id a line keeps). The people_reached_new a GET
    shows beside people_reached_cumulative is derived: it goes too when it is the current one."""
    line = {k: v for k, v in raw.items() if k != "id"}
    known = (
        current.get(raw["id"])
        if isinstance(raw["id"], int) and not isinstance(raw["id"], bool)
        else None
    )
    if known is None:
        return line, False
    if (
        known.people_reached_cumulative is not None
        and line.get("people_reached_cumulative") is not None
        and line.get("people_reached_new") == known.people_reached_new
    ):
        del line["people_reached_new"]
    try:
        key = line_key(LineIn.model_validate(line))
    except PydanticValidationError:
        return line, True  # its own problems are reported; the id is not the issue
    slot = (known.sector, known.division, known.phase, known.admin1 or "", known.admin2 or "")
    return line, key == "|".join(slot)


def _same(adapter: TypeAdapter[Any], given: Any, current: Any) -> bool:
    try:
        return bool(adapter.validate_python(given) == current)
    except PydanticValidationError:
        return False


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


def amend(
    session: Session, *, sitrep_id: int, data: SitrepCreate, if_match: str | None, user: User
) -> Sitrep:
    sitrep = _live_for_change(session, sitrep_id=sitrep_id, if_match=if_match, user=user)
    if data.country != sitrep.country:
        raise ValidationFailed(
            [
                (
                    ("body", "country"),
                    _(
                        "a sitrep's country cannot change (it is {country}); "
                        "withdraw this sitrep and submit a new one",
                        country=sitrep.country,
                    ),
                )
            ]
        )
    lines = _checked_lines(session, data)
    order.lock_slots(session, [*_slots(data), *_live_slots(session, sitrep)])
    _check_slots(session, data, sitrep_id=sitrep.id)
    existing = {
        line.line_key: line
        for line in session.scalars(
            select(SitrepLine)
            .where(SitrepLine.sitrep_id == sitrep.id)
            .order_by(SitrepLine.id)
            .execution_options(populate_existing=True)
        )
    }
    previous = session.scalars(
        select(SitrepRevision).where(
            SitrepRevision.sitrep_id == sitrep.id, SitrepRevision.revision == sitrep.revision
        )
    ).one()
    sitrep.revision += 1
    sitrep.crisis_id = data.crisis_id
    sitrep.period_start = data.period_start
    sitrep.period_end = data.period_end
    revision = _write_revision(
        session, sitrep=sitrep, data=data, lines=lines, existing=existing, user=user
    )
    audit.record(
        session,
        action="sitrep.amend",
        entity_type="sitrep",
        entity_id=sitrep.id,
        user=user,
        before=revision_document(previous),
        after=revision_document(revision),
    )
    metrics.count_sitrep(session, "amended")
    return sitrep


def withdraw(
    session: Session, *, sitrep_id: int, reason: str, if_match: str | None, user: User
) -> Sitrep:
    sitrep = _live_for_change(session, sitrep_id=sitrep_id, if_match=if_match, user=user)
    order.lock_slots(session, _live_slots(session, sitrep))
    live = list(
        session.scalars(
            select(SitrepLine)
            .where(SitrepLine.sitrep_id == sitrep.id, LIVE_LINE)
            .order_by(SitrepLine.id)
            .execution_options(populate_existing=True)
        )
    )
    now = utcnow()
    removed = [summaries.counted(line) for line in live]
    scope = chains.Scope(sitrep.country)
    order.stamp(session, live)
    for line in live:
        scope.add(line)
        line.status = SitrepStatus.withdrawn.value
        line.year_target = 0
        line.updated_at = now
    sitrep.status = SitrepStatus.withdrawn.value
    sitrep.withdrawn_at = now
    sitrep.withdrawn_by_id = user.id
    sitrep.withdrawal_reason = reason
    session.flush()
    _settle(session, scope=scope, sitrep=sitrep, removed=removed, added=[], now=now)
    audit.record(
        session,
        action="sitrep.withdraw",
        entity_type="sitrep",
        entity_id=sitrep.id,
        user=user,
        before={"status": SitrepStatus.submitted.value, "revision": sitrep.revision},
        after={"status": sitrep.status, "revision": sitrep.revision, "reason": reason},
    )
    metrics.count_sitrep(session, "withdrawn")
    return sitrep


def _live_slots(session: Session, sitrep: Sitrep) -> list[tuple[str, str]]:
    """The slots of a sitrep's live lines (locked with its row: they cannot change)."""
    keys = session.scalars(
        select(SitrepLine.line_key).where(SitrepLine.sitrep_id == sitrep.id, LIVE_LINE)
    )
    return [(sitrep.country, key) for key in keys]


def _live_for_change(
    session: Session, *, sitrep_id: int, if_match: str | None, user: User
) -> Sitrep:
    """The sitrep an amendment or withdrawal changes, locked until commit, once the user
    may change it, If-Match names its current state, and it is not withdrawn."""
    permissions.require_role(user, Role.field, Role.admin)
    sitrep = order.lock_sitrep(session, sitrep_id)
    if sitrep is None:
        raise NotFound(_("There is no sitrep {sitrep_id}.", sitrep_id=sitrep_id))
    _require_in_scope(user, sitrep)
    if if_match is None:
        raise PreconditionRequired(
            _(
                "Send the sitrep's current ETag in If-Match, so that an edit based on an "
                "older revision cannot overwrite a newer one."
            )
        )
    offered = {tag.strip() for tag in if_match.split(",")}
    if "*" not in offered and etag(sitrep) not in offered:
        raise PreconditionFailed(
            _(
                "Sitrep {sitrep_id} has changed (its ETag is now {etag}, revision "
                "{revision}, {status}); read it again and redo your change.",
                sitrep_id=sitrep.id,
                etag=etag(sitrep),
                revision=sitrep.revision,
                status=_status_word(sitrep.status),
            ),
            current_etag=etag(sitrep),
        )
    if sitrep.status == SitrepStatus.withdrawn:
        raise Conflict(
            _(
                "Sitrep {sitrep_id} is withdrawn; it cannot change again. Submit a new sitrep.",
                sitrep_id=sitrep.id,
            )
        )
    return sitrep


def line_header(sitrep: Sitrep, data: SitrepCreate, *, now: datetime) -> dict[str, Any]:
    """What each live line of a sitrep's current revision repeats of it."""
    return {
        "revision": sitrep.revision,
        "country": sitrep.country,
        "crisis_id": data.crisis_id,
        "period_start": data.period_start,
        "period_end": data.period_end,
        "year": data.period_end.year,
        "status": SitrepStatus.submitted.value,
        "updated_at": now,
    }


def _write_revision(
    session: Session,
    *,
    sitrep: Sitrep,
    data: SitrepCreate,
    lines: list[dict[str, Any]],
    existing: dict[str, SitrepLine],
    user: User,
) -> SitrepRevision:
    """Writes the sitrep's new revision: lines kept by key are updated in place (same id),
    new keys get new lines, and live lines the revision no longer has become withdrawn."""
    now = utcnow()
    kept = {line["line_key"] for line in lines}
    scope = chains.Scope(sitrep.country)
    counted_before = []
    for old in existing.values():
        if old.status == SitrepStatus.submitted:
            scope.add(old)
            counted_before.append(summaries.counted(old))
    dropped = [
        line
        for key, line in existing.items()
        if line.status == SitrepStatus.submitted and key not in kept
    ]
    header = line_header(sitrep, data, now=now)
    rows: list[SitrepLine] = []
    for line in lines:
        row = existing.get(line["line_key"])
        fields = {**header, **line}
        if row is None:
            row = SitrepLine(sitrep_id=sitrep.id, **fields)
            session.add(row)
        else:
            for name, value in fields.items():
                setattr(row, name, value)
        rows.append(row)
        scope.add(row)
    for row in dropped:
        row.status = SitrepStatus.withdrawn.value
        row.year_target = 0
        row.revision = sitrep.revision
        row.updated_at = now
    order.stamp(session, [*rows, *dropped])
    session.flush()
    _settle(session, scope=scope, sitrep=sitrep, removed=counted_before, added=rows, now=now)
    revision = SitrepRevision(
        sitrep_id=sitrep.id,
        revision=sitrep.revision,
        country=sitrep.country,
        crisis_id=data.crisis_id,
        period_start=data.period_start,
        period_end=data.period_end,
        narrative=data.narrative,
        lines=[line_document(row) for row in rows],
        submitted_at=now,
        submitted_by_id=user.id,
    )
    session.add(revision)
    session.flush()
    return revision


def _settle(
    session: Session,
    *,
    scope: chains.Scope,
    sitrep: Sitrep,
    removed: list[summaries.Counted],
    added: list[SitrepLine],
    now: datetime,
) -> None:
    """After a write of ``sitrep`` (flushed): settles the chains it touched (new reach and
    yearly targets), re-publishes in the feed the lines of other sitreps whose
    people_reached_new changed (new feed_seq, same revision), and moves the totals summaries
    from ``removed`` (what the sitrep's lines counted for before) to what every line counts
    for now."""
    others = chains.settle(session, scope=scope, sitrep_id=sitrep.id)
    republished = [other.line for other in others if other.republish]
    order.stamp(session, republished)
    for line in republished:
        line.updated_at = now
    summaries.apply_changes(
        session,
        removed=[*removed, *(other.before for other in others)],
        added=[summaries.counted(line) for line in [*added, *(other.line for other in others)]],
    )
    session.flush()


def revision_document(revision: SitrepRevision) -> dict[str, Any]:
    """A revision as the audit trail keeps it: JSON-ready."""
    return {
        "revision": revision.revision,
        "country": revision.country,
        "crisis_id": revision.crisis_id,
        "period_start": revision.period_start.isoformat(),
        "period_end": revision.period_end.isoformat(),
        "narrative": revision.narrative,
        "lines": revision.lines,
    }


def line_document(row: SitrepLine) -> dict[str, Any]:
    """A line as a revision keeps it: the API's shape, JSON-ready."""
    disaggregation = (
        None
        if row.women is None
        else {"women": row.women, "men": row.men, "girls": row.girls, "boys": row.boys}
    )
    return {
        "id": row.id,
        "sector": row.sector,
        "division": row.division,
        "phase": row.phase,
        "admin1": row.admin1,
        "admin2": row.admin2,
        "people_reached": row.people_reached,
        "people_reached_new": row.people_reached_new,
        "people_reached_cumulative": row.people_reached_cumulative,
        "people_targeted": row.people_targeted,
        "disaggregation": disaggregation,
        "persons_with_disabilities": row.persons_with_disabilities,
        "indicators": row.indicators,
    }


# --- validation ------------------------------------------------------------------------


def _checked_lines(session: Session, data: SitrepCreate) -> list[dict[str, Any]]:
    crisis = None if data.crisis_id is None else crises.find(session, crisis_id=data.crisis_id)
    return rules.checked_lines(data, crisis=crisis)


def _rule_problems(session: Session, data: rules.Checkable) -> list[tuple[Loc, str]]:
    """The problems the rules find in what can be checked of a document, each at its field."""
    crisis = None if data.crisis_id is None else crises.find(session, crisis_id=data.crisis_id)
    return rules.problems(data, crisis=crisis)


def _check_slots(session: Session, data: SitrepCreate, *, sitrep_id: int | None) -> None:
    """No two live sitreps report the same slot for overlapping periods."""
    keys = sorted({line_key(line) for line in data.lines})
    if not keys:
        return
    query = select(
        SitrepLine.sitrep_id, SitrepLine.line_key, SitrepLine.period_start, SitrepLine.period_end
    ).where(
        LIVE_LINE,
        SitrepLine.country == data.country,
        SitrepLine.line_key.in_(keys),
        SitrepLine.period_end >= data.period_start,
        SitrepLine.period_start <= data.period_end,
        SitrepLine.crisis_id.is_(None)
        if data.crisis_id is None
        else SitrepLine.crisis_id == data.crisis_id,
    )
    if sitrep_id is not None:
        query = query.where(SitrepLine.sitrep_id != sitrep_id)
    clash = session.execute(
        query.order_by(SitrepLine.sitrep_id, SitrepLine.line_key).limit(1)
    ).first()
    if clash is None:
        return
    raise rules.slot_conflict(
        data,
        sitrep_id=clash.sitrep_id,
        line_key=clash.line_key,
        period_start=clash.period_start,
        period_end=clash.period_end,
    )


# --- reads -----------------------------------------------------------------------------


def _require_reader(user: User) -> None:
    permissions.require_role(user, Role.field, Role.hq, Role.admin)


def _require_in_scope(user: User, sitrep: Sitrep) -> None:
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
    _require_in_scope(user, sitrep)
    return sitrep, _read(sitrep, revision, submitted_by, _current_new(session, [revision]))


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
        items=[_read(sitrep, revision, name, current) for sitrep, revision, name in rows],
        next_cursor=next_cursor,
    )


def revisions_page(
    session: Session, *, sitrep_id: int, limit: int, cursor: str | None, user: User
) -> Page[SitrepRevisionRead]:
    _require_reader(user)
    sitrep = session.get(Sitrep, sitrep_id)
    if sitrep is None:
        raise NotFound(_("There is no sitrep {sitrep_id}.", sitrep_id=sitrep_id))
    _require_in_scope(user, sitrep)
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


def _read(
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

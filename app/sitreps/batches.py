"""Batches of new sitreps (POST /api/v1/sitreps/batch), written as sets.

A batch is answered exactly as if its sitreps were submitted one by one, in order, each in
a savepoint of its own (``submit_each``): each is accepted or refused on its own, whole or
not at all, with the problem a single submission would get. It is written instead as a
set, in a number of statements that does not grow with the batch:

1. every sitrep is read and checked against the rules (``rules.checked_lines``), with each
   crisis looked up once for the batch;
2. one query reads the live lines that could hold the batch's slots or share its chains;
   the one-sitrep-per-slot rule is checked in order against them and against the sitreps of
   the batch accepted so far (a refused sitrep holds no slot);
3. the accepted sitreps, their lines, their revisions and their audit events are inserted
   one statement per table (ids taken beforehand, ``_insert``), their lines get their feed
   positions at once, the chains they touch are settled in one statement
   (``chains.settle_set``) and the totals get every delta at once (written at commit);
4. the answer is built from the rows in hand, as a read of them would show them.

About 20 statements for a batch of any size, against about 15 per sitrep one at a time.
Imports create their sitreps (mode create) the same way (``write_each``).

What a cumulative figure counts for depends on the order the sitreps are written in when
a sitrep of the batch reports a period before another one's (of the batch, or already
stored) in the same chain, and then one of them may be refused: such batches, and those
where a figure would go down, are written one sitrep at a time (``submit_each``), which
says which sitrep is refused and why. The slots of the whole batch are locked first
either way (app.sitreps.order).
"""

import typing
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Table, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.auth import permissions
from app.auth.models import Role, User
from app.config import get_settings
from app.crises import service as crises
from app.crises.models import Crisis
from app.db import utcnow
from app.errors import AppError, ValidationFailed, problem_body
from app.http import metrics
from app.i18n import _
from app.openapi import Problem
from app.reference import catalog as reference
from app.sitreps import bodies, order, reads, rules, stored
from app.sitreps import service as sitreps
from app.sitreps.models import LIVE_LINE, Sitrep, SitrepLine, SitrepRevision
from app.sitreps.schemas import BatchItemResult, BatchRead, SitrepCreate, SitrepRead
from app.totals import chains, summaries

# Line keys per statement naming them: far below the databases' limits on parameters.
_KEYS_PER_QUERY = 5000

# (country, crisis_id, line_key): what a slot clash is looked up by.
_Slot = tuple[str, int | None, str]
# (country, crisis_id, line_key, year): a chain.
_Chain = tuple[str, int | None, str, int]


def submit_batch(session: Session, *, items: list[Any], user: User) -> BatchRead:
    """Submits each sitrep on its own: each is written whole or not at all, and refusing
    one refuses only that one."""
    permissions.require_role(user, Role.field, Role.admin)
    limit = get_settings().max_sitreps_per_batch
    if len(items) > limit:
        raise ValidationFailed(
            [(("body", "sitreps"), _("at most {limit} sitreps per batch", limit=limit))]
        )
    read = bodies.read_each(items, session=session)
    sitreps.lock_slots_of(session, bodies.valid(read))
    written = _write_set(session, read=read, user=user)
    outcomes: list[Outcome]
    if written is None:
        outcomes = [
            (None, exc) if exc is not None else (_read(session, sitrep, user), None)
            for sitrep, exc in submit_each(session, read=read, user=user)
        ]
    else:
        as_stored = _as_stored(session)
        outcomes = [
            (_answer(item, user=user, as_stored=as_stored), None)
            if isinstance(item, _Item)
            else (None, item)
            for item in written
        ]
    results: list[BatchItemResult] = []
    for index, (sitrep_read, exc) in enumerate(outcomes):
        if exc is not None:
            problem = _relocated(exc, index) if isinstance(exc, ValidationFailed) else exc
            results.append(
                BatchItemResult(
                    index=index,
                    status=problem.status,
                    problem=Problem.model_validate(problem_body(problem)),
                )
            )
        else:
            results.append(BatchItemResult(index=index, status=201, sitrep=sitrep_read))
    accepted = sum(1 for r in results if r.sitrep is not None)
    return BatchRead(accepted=accepted, refused=len(results) - accepted, results=results)


def write_each(
    session: Session, *, read: Sequence[SitrepCreate | ValidationFailed], user: User
) -> list[tuple[Sitrep, None] | tuple[None, AppError]]:
    """What ``submit_each`` yields for these sitrep documents (``bodies.read_each``), written
    as a set where that writes the same (imports: their slots already locked with
    ``lock_slots_of``)."""
    written = _write_set(session, read=read, user=user)
    if written is None:
        return list(submit_each(session, read=read, user=user))
    outcomes: list[tuple[Sitrep, None] | tuple[None, AppError]] = []
    for item in written:
        if isinstance(item, _Item):
            assert item.sitrep is not None
            outcomes.append((item.sitrep, None))
        else:
            outcomes.append((None, item))
    return outcomes


def _read(session: Session, sitrep: Sitrep | None, user: User) -> SitrepRead:
    assert sitrep is not None
    return reads.read_after_write(session, sitrep=sitrep, user=user)


def submit_each(
    session: Session, *, read: Iterable[SitrepCreate | ValidationFailed], user: User
) -> Iterator[tuple[Sitrep, None] | tuple[None, AppError]]:
    """Submits each sitrep (``bodies.read_each``) in a savepoint of its own, so that each is
    written whole or not at all and refusing one refuses only that one; yields the sitrep,
    or the problem (422 locations as in a single submission), of each in turn."""
    for data in read:
        if isinstance(data, ValidationFailed):
            yield None, data
            continue
        try:
            with session.begin_nested():
                sitrep = sitreps.submit(session, data=data, user=user)
        except AppError as exc:
            yield None, exc
            continue
        yield sitrep, None


def _relocated(exc: ValidationFailed, index: int) -> ValidationFailed:
    """The problems of one sitrep of a batch, pointed at it within the batch."""
    return ValidationFailed(
        [
            (("body", "sitreps", index, *error["loc"][1:]), error["msg"])
            for error in exc.extensions["errors"]
        ]
    )


# --- the set ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """A sitrep of the batch that passed every rule, on its way to being written."""

    index: int
    data: SitrepCreate
    lines: list[dict[str, Any]]
    sitrep: Sitrep | None = None
    rows: list[SitrepLine] = field(default_factory=list)
    revision: SitrepRevision | None = None


@dataclass(frozen=True, slots=True)
class _Clash:
    """A sitrep reporting a slot that an earlier one of the batch holds: a 409 naming
    that one, once it has an id."""

    data: SitrepCreate
    holder: _Item
    line_key: str

    def conflict(self) -> AppError:
        assert self.holder.sitrep is not None
        return rules.slot_conflict(
            self.data,
            sitrep_id=self.holder.sitrep.id,
            line_key=self.line_key,
            period_start=self.holder.data.period_start,
            period_end=self.holder.data.period_end,
        )


Outcome = tuple[SitrepRead, None] | tuple[None, AppError]


def _write_set(
    session: Session, *, read: Sequence[SitrepCreate | ValidationFailed], user: User
) -> list[_Item | AppError] | None:
    """Writes the batch as a set; each item, written, or the problem that refused it, in
    order; or None when the batch must be written one sitrep at a time (nothing is written
    then)."""
    refused: dict[int, AppError | _Clash] = {}
    documents: list[tuple[int, SitrepCreate]] = []
    for index, data in enumerate(read):
        if isinstance(data, ValidationFailed):
            refused[index] = data
            continue
        try:
            if reference.is_country(data.country):
                permissions.require_country(user, data.country)
        except AppError as exc:
            refused[index] = exc
            continue
        documents.append((index, data))
    found = _crises(session, {data.crisis_id for _index, data in documents})
    checked: list[_Item] = []
    for index, data in documents:
        crisis = None if data.crisis_id is None else found.get(data.crisis_id)
        try:
            checked.append(_Item(index, data, rules.checked_lines(data, crisis=crisis)))
        except ValidationFailed as exc:
            refused[index] = exc
    stored = _stored_lines(session, checked)
    accepted = _slots_checked(checked, stored, refused)
    if _order_matters(accepted, stored) or _too_wide(accepted):
        return None
    if _goes_down(session, accepted, user=user):
        return None
    savepoint = session.begin_nested()
    try:
        if not _write(session, accepted, user=user):
            savepoint.rollback()
            return None
        savepoint.commit()
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    by_index = {item.index: item for item in accepted}
    outcomes: list[_Item | AppError] = []
    for index in range(len(read)):
        problem = refused.get(index)
        if problem is None:
            outcomes.append(by_index[index])
        else:
            outcomes.append(problem.conflict() if isinstance(problem, _Clash) else problem)
    return outcomes


def _crises(session: Session, ids: Iterable[int | None]) -> dict[int, Crisis]:
    """The batch's crises, each looked up once (held here, so that the session keeps them)."""
    found = {}
    for crisis_id in sorted(i for i in ids if i is not None):
        crisis = crises.find(session, crisis_id=crisis_id)
        if crisis is not None:
            found[crisis_id] = crisis
    return found


def _stored_lines(session: Session, checked: Sequence[_Item]) -> dict[_Slot, list[Any]]:
    """The live lines, by slot, that may hold a slot of the batch for an overlapping period
    (those of the batch's countries, crises and line keys within its dates), or may count
    for something else once the batch is in their chain (their cumulative lines of its
    years)."""
    if not checked:
        return {}
    countries = sorted({item.data.country for item in checked})
    keys = sorted({line["line_key"] for item in checked for line in item.lines})
    first = min(item.data.period_start for item in checked)
    last = max(item.data.period_end for item in checked)
    years = sorted({item.data.period_end.year for item in checked})
    line = SitrepLine
    crises = chains.of_crises({item.data.crisis_id for item in checked})
    stored: dict[_Slot, list[Any]] = defaultdict(list)
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        query = select(
            line.sitrep_id,
            line.country,
            line.crisis_id,
            line.line_key,
            line.period_start,
            line.period_end,
            line.year,
            line.people_reached_cumulative,
        ).where(
            LIVE_LINE,
            line.country.in_(countries),
            crises,
            line.line_key.in_(keys[start : start + _KEYS_PER_QUERY]),
            or_(
                and_(line.period_end >= first, line.period_start <= last),
                and_(line.year.in_(years), line.people_reached_cumulative.is_not(None)),
            ),
        )
        found: Sequence[Any] = session.execute(query).all()
        for row in found:
            stored[(row.country, row.crisis_id, row.line_key)].append(row)
    return stored


def _overlap(start: date, end: date, other_start: date, other_end: date) -> bool:
    return other_end >= start and other_start <= end


def _slots_checked(
    checked: Sequence[_Item],
    stored: dict[_Slot, list[Any]],
    refused: dict[int, AppError | _Clash],
) -> list[_Item]:
    """The items that no live sitrep, and no earlier accepted item, holds a slot of for an
    overlapping period, in order; the others go to ``refused`` with the clash a single
    submission would name: the lowest sitrep id first, which is a stored sitrep before any
    of the batch."""
    held: dict[_Slot, list[_Item]] = defaultdict(list)
    accepted: list[_Item] = []
    for item in checked:
        data = item.data
        start, end = data.period_start, data.period_end
        clashes: list[tuple[int, int, str, Any | _Item]] = []
        for line in item.lines:
            slot = (data.country, data.crisis_id, line["line_key"])
            clashes += [
                (0, row.sitrep_id, line["line_key"], row)
                for row in stored.get(slot, ())
                if _overlap(start, end, row.period_start, row.period_end)
            ]
            clashes += [
                (1, other.index, line["line_key"], other)
                for other in held.get(slot, ())
                if _overlap(start, end, other.data.period_start, other.data.period_end)
            ]
        if not clashes:
            accepted.append(item)
            for line in item.lines:
                held[(data.country, data.crisis_id, line["line_key"])].append(item)
            continue
        _stored_first, _order, key, holder = min(clashes, key=lambda c: c[:3])
        if isinstance(holder, _Item):
            refused[item.index] = _Clash(data, holder, key)
        else:
            refused[item.index] = rules.slot_conflict(
                data,
                sitrep_id=holder.sitrep_id,
                line_key=key,
                period_start=holder.period_start,
                period_end=holder.period_end,
            )
    return accepted


def _order_matters(accepted: Sequence[_Item], stored: dict[_Slot, list[Any]]) -> bool:
    """Whether writing the batch at once could differ from writing it one sitrep at a time:
    when a line of it comes, in its chain, before a cumulative line that is stored, or that
    is of an earlier sitrep of the batch. That later cumulative line would then count for
    something else after the earlier period is written (and go back to the feed, or be
    refused), which only the order of the writes decides."""
    chains_of: dict[_Chain, list[tuple[date, bool]]] = defaultdict(list)
    for item in accepted:
        data = item.data
        year = data.period_end.year
        for line in item.lines:
            slot = (data.country, data.crisis_id, line["line_key"])
            if any(
                row.year == year
                and row.people_reached_cumulative is not None
                and row.period_end > data.period_end
                for row in stored.get(slot, ())
            ):
                return True
            earlier = chains_of[(*slot, year)]
            if any(cumulative and end > data.period_end for end, cumulative in earlier):
                return True
            earlier.append((data.period_end, line["people_reached_cumulative"] is not None))
    return False


def _scopes(lines: Iterable[SitrepLine | dict[str, Any]]) -> list[chains.Scope]:
    scopes: dict[str, chains.Scope] = {}
    for line in lines:
        row = line if isinstance(line, SitrepLine) else SitrepLine(**line)
        scopes.setdefault(row.country, chains.Scope(row.country)).add(row)
    return list(scopes.values())


def _goes_down(session: Session, accepted: Sequence[_Item], *, user: User) -> bool:
    """On PostgreSQL, whether a cumulative figure of the batch would go down (the batch is
    then written one sitrep at a time), found out before the real write: a refused write
    gives back no id its sequences handed out, so the ids in the answer would not be those
    of one sitrep at a time. The batch is written for this under ids no sequence gives (below
    zero), in a savepoint rolled back at once. SQLite hands out its ids again after a
    rollback: there the real write finds out (``_write``)."""
    if session.get_bind().dialect.name != "postgresql" or not any(
        line["people_reached_cumulative"] is not None for item in accepted for line in item.lines
    ):
        return False
    now = utcnow()
    sitrep_rows = []
    line_rows: list[dict[str, Any]] = []
    for number, item in enumerate(accepted, start=1):
        fields = stored.sitrep_fields(item.data, created_by_id=user.id, now=now)
        sitrep_rows.append({**fields, "id": -number})
        header = stored.line_header(Sitrep(**fields), now=now)
        for line in item.lines:
            position = -len(line_rows) - 1
            line_rows.append(
                {**header, **line, "id": position, "sitrep_id": -number, "feed_seq": position}
            )
    savepoint = session.begin_nested()
    try:
        session.execute(insert(Sitrep), sitrep_rows)
        session.execute(insert(SitrepLine), line_rows)
        return chains.goes_down(session, scopes=_scopes(line_rows))
    finally:
        savepoint.rollback()


def _too_wide(accepted: Sequence[_Item]) -> bool:
    """Whether the batch has more slots than one statement over its chains can name (the
    databases bound a statement's parameters); one sitrep at a time has at most
    settings.max_lines_per_sitrep."""
    slots = {(item.data.country, line["line_key"]) for item in accepted for line in item.lines}
    return len(slots) > _KEYS_PER_QUERY


def _write(session: Session, accepted: Sequence[_Item], *, user: User) -> bool:
    """Writes the accepted items (``_insert``); False when a cumulative figure would go down
    or a line of another sitrep would count for something else (the caller rolls back)."""
    if not accepted:
        return True
    now = utcnow()
    for item in accepted:
        item.sitrep = Sitrep(**stored.sitrep_fields(item.data, created_by_id=user.id, now=now))
    _insert(session, Sitrep, [item.sitrep for item in accepted if item.sitrep is not None])
    written: list[SitrepLine] = []
    for item in accepted:
        data, sitrep = item.data, item.sitrep
        assert sitrep is not None
        header = {"sitrep_id": sitrep.id, **stored.line_header(sitrep, now=now)}
        item.rows = [SitrepLine(**header, **line) for line in item.lines]
        written += item.rows
    order.stamp(session, written)
    _insert(session, SitrepLine, written)
    as_inserted = {line.id: (line.people_reached_new, line.year_target) for line in written}
    others = chains.settle_set(session, scopes=_scopes(written), written=written)
    if others is None or any(other.republish for other in others):
        return False
    settled = [
        {
            "id": line.id,
            "people_reached_new": line.people_reached_new,
            "year_target": line.year_target,
        }
        for line in written
        if (line.people_reached_new, line.year_target) != as_inserted[line.id]
    ]
    if settled:
        # The lines are not the session's (``_insert``): what settling changed of them is
        # written here, one executemany by primary key.
        session.execute(update(SitrepLine), settled)
    summaries.apply_changes(
        session,
        removed=[other.before for other in others],
        added=[summaries.counted(line) for line in [*written, *(o.line for o in others)]],
    )
    for item in accepted:
        data, sitrep = item.data, item.sitrep
        assert sitrep is not None
        item.revision = SitrepRevision(
            **stored.revision_fields(
                sitrep,
                sitrep_id=sitrep.id,
                narrative=data.narrative,
                rows=item.rows,
                submitted_by_id=user.id,
                now=now,
            )
        )
    events = []
    for item in accepted:
        assert item.sitrep is not None and item.revision is not None
        events.append(
            audit.event(
                action="sitrep.submit",
                entity_type="sitrep",
                entity_id=item.sitrep.id,
                user=user,
                after=stored.revision_document(item.revision),
            )
        )
        metrics.count_sitrep(session, "submitted")
    _insert(
        session, SitrepRevision, [item.revision for item in accepted if item.revision is not None]
    )
    _insert(session, AuditEvent, events)
    return True


def _insert(
    session: Session,
    model: type[Sitrep] | type[SitrepLine] | type[SitrepRevision] | type[AuditEvent],
    rows: Sequence[Sitrep | SitrepLine | SitrepRevision | AuditEvent],
) -> None:
    """Inserts new rows of one table with the ids the database would give them one by one,
    in order, given to them beforehand so that the rows go in as one executemany (no row
    has to tell which id it got: SQLite cannot say which id went to which row of a
    multi-row insert, and psycopg parses a multi-row insert's text anew every time).

    On PostgreSQL the ids come from the table's sequence, as an insert would take them. On
    SQLite they are what SQLite gives a new row, one more than the largest, which is safe
    because the transaction holds SQLite's one write lock (it has locked the batch's
    slots)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
        ids = sorted(
            session.scalars(
                select(func.nextval(sequence)).select_from(func.generate_series(1, len(rows)))
            )
        )
    else:
        last = session.scalar(select(func.max(model.id))) or 0
        ids = list(range(last + 1, last + len(rows) + 1))
    for row, row_id in zip(rows, ids, strict=True):
        row.id = row_id
    # Core's executemany of the rows' columns, not the session's unit of work: the rows stay
    # plain objects the answer is built from (nothing of the batch reads them back), and the
    # unit of work's bookkeeping was 40 % of a batch's time (100 sitreps, 1,200 lines).
    table = typing.cast(Table, model.__table__)
    # The columns the rows were given (all the same: each table's rows are made alike), read
    # from each row's own dict, its attributes' values.
    names = [c.key for c in table.columns if c.key in vars(rows[0])]
    columns = {c.key for c in table.columns}
    assert all(vars(row).keys() & columns == set(names) for row in rows)
    session.execute(insert(table), [{name: vars(row)[name] for name in names} for row in rows])


def _as_stored(session: Session) -> bool:
    """Whether JSON documents come back from the database with their keys reordered
    (PostgreSQL's jsonb: shorter keys first, then bytewise), as a read of them shows."""
    return session.get_bind().dialect.name == "postgresql"


def _jsonb_order(document: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(document.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode())))


def _answer(item: _Item, *, user: User, as_stored: bool) -> SitrepRead:
    """The sitrep as a read of it just after the write returns it, from what is in hand."""
    assert item.sitrep is not None and item.revision is not None
    current = {
        row.id: row.people_reached_new
        for row in item.rows
        if row.people_reached_cumulative is not None
    }
    read = reads.read(item.sitrep, item.revision, user.name, current)
    if as_stored:
        for line in read.lines:
            line.indicators = _jsonb_order(line.indicators)
    return read

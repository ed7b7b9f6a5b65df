"""Sitreps: submission, amendment and withdrawal, with every rule of DOMAIN.md.

Every write locks the slots it touches first (``order.lock_slots``; an amendment or a
withdrawal locks its sitrep before that), then checks the one-sitrep-per-slot rule, then
writes the sitrep, its new revision and its lines (as app.sitreps.stored defines them), and
flushes; the request commits. Holding the slots' locks until commit makes the slot check and
the chains race-free while writes to other slots go on in parallel (app.sitreps.order says
how, and why). Reads are app.sitreps.reads; a body read as a sitrep, app.sitreps.bodies; a
batch, app.sitreps.batches.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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
)
from app.http import metrics
from app.i18n import _
from app.reference import catalog as reference
from app.sitreps import order, reads, rules, stored
from app.sitreps.models import LIVE_LINE, Sitrep, SitrepLine, SitrepRevision, SitrepStatus
from app.sitreps.rules import line_key
from app.sitreps.schemas import SitrepCreate
from app.totals import chains, summaries


def _slots(data: SitrepCreate) -> list[tuple[str, str]]:
    return [(data.country, line_key(line)) for line in data.lines]


def lock_slots_of(
    session: Session, read: Sequence[SitrepCreate], *, with_their_sitreps: bool = False
) -> None:
    """Locks, at once, the slots of every sitrep (the valid documents, ``bodies.valid``)
    that a batch or an import is about to write, so that its sitreps, written one by one,
    never wait for another writer while holding some of their slots. The documents that are
    not valid are not given: they will be refused before they lock anything.

    ``with_their_sitreps`` (an import that may amend): first the live sitreps of the
    documents' countries, crises and periods, the ones it may amend, in id order, then
    their slots with the documents' ones: the order an amendment takes them in (its sitrep,
    then its slots), so that the import and an amendment never hold one each."""
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


def submit(session: Session, *, data: SitrepCreate, user: User) -> Sitrep:
    permissions.require_role(user, Role.field, Role.admin)
    if reference.is_country(data.country):
        permissions.require_country(user, data.country)
    lines = _checked_lines(session, data)
    order.lock_slots(session, _slots(data))
    _check_slots(session, data, sitrep_id=None)
    sitrep = Sitrep(**stored.sitrep_fields(data, created_by_id=user.id, now=utcnow()))
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
        after=stored.revision_document(revision),
    )
    metrics.count_sitrep(session, "submitted")
    return sitrep


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
        before=stored.revision_document(previous),
        after=stored.revision_document(revision),
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
    stored.withdraw_lines(live, now=now)
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
    reads.require_in_scope(user, sitrep)
    if if_match is None:
        raise PreconditionRequired(
            _(
                "Send the sitrep's current ETag in If-Match, so that an edit based on an "
                "older revision cannot overwrite a newer one."
            )
        )
    offered = {tag.strip() for tag in if_match.split(",")}
    if "*" not in offered and reads.etag(sitrep) not in offered:
        raise PreconditionFailed(
            _(
                "Sitrep {sitrep_id} has changed (its ETag is now {etag}, revision "
                "{revision}, {status}); read it again and redo your change.",
                sitrep_id=sitrep.id,
                etag=reads.etag(sitrep),
                revision=sitrep.revision,
                status=reads.status_word(sitrep.status),
            ),
            current_etag=reads.etag(sitrep),
        )
    if sitrep.status == SitrepStatus.withdrawn:
        raise Conflict(
            _(
                "Sitrep {sitrep_id} is withdrawn; it cannot change again. Submit a new sitrep.",
                sitrep_id=sitrep.id,
            )
        )
    return sitrep


def _write_revision(
    session: Session,
    *,
    sitrep: Sitrep,
    data: SitrepCreate,
    lines: list[dict[str, Any]],
    existing: dict[str, SitrepLine],
    user: User,
) -> SitrepRevision:
    """Writes the sitrep's new revision (stored.revise: lines kept by key keep their id, new
    keys get new lines, live lines of keys it no longer has become withdrawn)."""
    now = utcnow()
    scope = chains.Scope(sitrep.country)
    counted_before = []
    for old in existing.values():
        if old.status == SitrepStatus.submitted:
            scope.add(old)
            counted_before.append(summaries.counted(old))
    revised = stored.revise(
        existing,
        lines,
        stored.line_header(sitrep, now=now),
        make=lambda **fields: SitrepLine(sitrep_id=sitrep.id, **fields),
    )
    session.add_all(revised.new)
    for row in revised.rows:
        scope.add(row)
    order.stamp(session, [*revised.rows, *revised.dropped])
    session.flush()
    _settle(
        session, scope=scope, sitrep=sitrep, removed=counted_before, added=revised.rows, now=now
    )
    revision = SitrepRevision(
        **stored.revision_fields(
            sitrep,
            sitrep_id=sitrep.id,
            narrative=data.narrative,
            rows=revised.rows,
            submitted_by_id=user.id,
            now=now,
        )
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


def _checked_lines(session: Session, data: SitrepCreate) -> list[dict[str, Any]]:
    crisis = None if data.crisis_id is None else crises.find(session, crisis_id=data.crisis_id)
    return rules.checked_lines(data, crisis=crisis)


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
